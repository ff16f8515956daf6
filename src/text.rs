//! Text shown to people: shortening opaque identifiers for the console. Pure helpers below
//! every other layer.

/// `27f8…78fa` for long opaque identifiers (subjects), unchanged when short.
pub fn abbreviate(s: &str) -> String {
    if s.chars().count() > 16 {
        let head: String = s.chars().take(4).collect();
        let tail: String = s.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        format!("{head}…{tail}")
    } else {
        s.to_owned()
    }
}

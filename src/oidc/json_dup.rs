//! Duplicated member names in a JSON object (`{"iss": "a", "iss": "b"}`). RFC 8259 §4 leaves
//! their meaning open and parsers differ: serde_json and Ruby's JSON keep the last, others the
//! first or refuse. A provider (or something between) that sends two `iss`, two `id_token` or
//! two `issuer` makes the relying party and this tool read different documents, so they are
//! found here, as the wire has them, before any rule trusts a value.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One member name given twice in the same object.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    /// Dotted path of the member (`iss`, `keys.0.kid`).
    pub name: String,
    /// The earlier value, then the later one (which serde_json keeps).
    pub first: Value,
    pub second: Value,
}

/// The duplicated member names of a JSON text; empty when it has none or is not JSON.
pub fn duplicates(text: &str) -> Vec<Duplicate> {
    let mut de = serde_json::Deserializer::from_str(text);
    match de.deserialize_any(Walk) {
        Ok(w) => w.1,
        Err(_) => vec![],
    }
}

/// A value and the duplicates found inside it.
struct Walked(Value, Vec<Duplicate>);

struct Walk;

impl<'de> de::Deserialize<'de> for Walked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Walked, D::Error> {
        d.deserialize_any(Walk)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = Walked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Walked, E> {
        Ok(Walked(Value::Bool(v), vec![]))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Walked, E> {
        Ok(Walked(Value::from(v), vec![]))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Walked, E> {
        Ok(Walked(Value::from(v), vec![]))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Walked, E> {
        Ok(Walked(Value::from(v), vec![]))
    }
    fn visit_str<E>(self, v: &str) -> Result<Walked, E> {
        Ok(Walked(Value::from(v), vec![]))
    }
    fn visit_string<E>(self, v: String) -> Result<Walked, E> {
        Ok(Walked(Value::String(v), vec![]))
    }
    fn visit_unit<E>(self) -> Result<Walked, E> {
        Ok(Walked(Value::Null, vec![]))
    }
    fn visit_none<E>(self) -> Result<Walked, E> {
        Ok(Walked(Value::Null, vec![]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walked, A::Error> {
        let (mut items, mut dups) = (vec![], vec![]);
        while let Some(Walked(v, d)) = seq.next_element::<Walked>()? {
            let at = items.len();
            dups.extend(d.into_iter().map(|x| Duplicate { name: format!("{at}.{}", x.name), ..x }));
            items.push(v);
        }
        Ok(Walked(Value::Array(items), dups))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walked, A::Error> {
        let (mut m, mut dups) = (serde_json::Map::new(), vec![]);
        while let Some(k) = map.next_key::<String>()? {
            let Walked(v, d) = map.next_value::<Walked>()?;
            dups.extend(d.into_iter().map(|x| Duplicate { name: format!("{k}.{}", x.name), ..x }));
            if let Some(old) = m.get(&k) {
                dups.push(Duplicate { name: k.clone(), first: old.clone(), second: v.clone() });
            }
            m.insert(k, v);
        }
        Ok(Walked(Value::Object(m), dups))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_duplicated_member_is_found_with_both_values() {
        assert_eq!(duplicates(r#"{"iss":"a","sub":"s"}"#), vec![]);
        assert_eq!(
            duplicates(r#"{"iss":"https://id/","sub":"s","iss":"https://evil/"}"#),
            vec![Duplicate {
                name: "iss".into(),
                first: json!("https://id/"),
                second: json!("https://evil/")
            }]
        );
        let nested = duplicates(r#"{"keys":[{"kid":"a","kid":"b"}],"x":{"y":1,"y":[2]}}"#);
        let names: Vec<&str> = nested.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["keys.0.kid", "x.y"]);
        assert_eq!(nested[1].second, json!([2]));
        // Not JSON, or cut: nothing claimed.
        assert_eq!(duplicates(r#"{"iss":"a","iss""#), vec![]);
        assert_eq!(duplicates("<html>"), vec![]);
    }
}

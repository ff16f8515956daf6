//! What the relying party did with a case's answer, from what was seen: the gateway's view of
//! the provider side (did it go on to call userinfo with the access token?) and, when the tool
//! logs in itself, where the browser ended. No I/O; never a guess: without evidence the verdict
//! is "undecided" and says what was missing.

use super::cases::Case;

/// What the gateway saw of one login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// The relying party redeemed the code.
    pub token_called: bool,
    /// It called userinfo with this login's access token.
    pub userinfo_called: bool,
    /// Where the tool's browser ended (`--login-url`), if it logged in itself.
    pub browser: Option<BrowserEnd>,
}

/// The browser's last stop at the relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserEnd {
    /// Sent back to the sign-in page (Mastodon's failure redirect).
    SignIn(String),
    /// The callback answered an error status.
    Refused(u16, String),
    /// A page that is neither: the user is signed in.
    Landed(String),
    /// The browser never got back to the relying party (it stopped at the provider).
    NeverBack(String),
    /// The login never left the relying party (its button did not redirect to the provider).
    NotStarted(String),
}

/// The relying party's verdict on one case, with the evidence that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted(String),
    Rejected(String),
    Undecided(String),
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Accepted(_) => "accepted",
            Verdict::Rejected(_) => "rejected",
            Verdict::Undecided(_) => "undecided",
        }
    }

    pub fn evidence(&self) -> &str {
        match self {
            Verdict::Accepted(e) | Verdict::Rejected(e) | Verdict::Undecided(e) => e,
        }
    }
}

/// Judges one login of `case`.
pub fn judge(case: &Case, seen: &Seen) -> Verdict {
    match &seen.browser {
        Some(BrowserEnd::SignIn(url)) => {
            Verdict::Rejected(format!("its callback sent the browser back to sign-in ({url})"))
        }
        Some(BrowserEnd::Refused(status, url)) => {
            Verdict::Rejected(format!("its callback answered {status} ({url})"))
        }
        Some(BrowserEnd::Landed(url)) => Verdict::Accepted(format!(
            "its callback signed the browser in (landed on {url}){}",
            if seen.userinfo_called { ", after calling userinfo with the access token" } else { "" }
        )),
        Some(BrowserEnd::NeverBack(url)) => {
            Verdict::Undecided(format!("the browser never got back to the relying party (it stopped at {url})"))
        }
        Some(BrowserEnd::NotStarted(what)) => Verdict::Undecided(format!("the login never reached the provider: {what}")),
        None if seen.userinfo_called && !case.after_userinfo => Verdict::Accepted(
            "it called userinfo with the access token: it trusted the ID token (Mastodon's strategy verifies the token first)".into(),
        ),
        None if seen.userinfo_called => Verdict::Undecided(
            "it called userinfo, and judges this case after that call, at its callback, which the gateway does not see: use --login-url".into(),
        ),
        None if seen.token_called => Verdict::Undecided(
            "it redeemed the code and did not call userinfo; its callback is not seen by the gateway: use --login-url".into(),
        ),
        None => Verdict::Undecided("no login reached the provider's token endpoint in time".into()),
    }
}

/// Where a browser that stopped at `url` with `status` is, for a relying party whose sign-in
/// page is `sign_in` (a path).
/// The URL is redacted (a callback URL carries the code).
pub fn browser_end(url: &str, status: u16, rp_origin: &str, sign_in: &str) -> BrowserEnd {
    let path = url.strip_prefix(rp_origin).unwrap_or(url).split(['?', '#']).next().unwrap_or("");
    let shown = crate::text::truncate(&crate::redact::redact_url(url), 120);
    let url = shown.as_str();
    if !url.starts_with(rp_origin) {
        BrowserEnd::NeverBack(url.to_owned())
    } else if path == sign_in || path == "/auth/sign_in" {
        BrowserEnd::SignIn(url.to_owned())
    } else if status >= 400 {
        BrowserEnd::Refused(status, url.to_owned())
    } else {
        // Where a signed-in user lands; its query (a code, a state) says nothing more.
        BrowserEnd::Landed(url.split('?').next().unwrap_or(url).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::cases::find;

    #[test]
    fn the_evidence_decides_and_nothing_is_guessed() {
        let aud = find("aud").unwrap();
        let rp = "http://127.0.0.1:3000";
        let end = |u: &str, s| Some(browser_end(u, s, rp, "/auth/sign_in"));
        let v = judge(
            aud,
            &Seen { browser: end("http://127.0.0.1:3000/auth/sign_in?x=1", 200), ..Default::default() },
        );
        assert_eq!(v.word(), "rejected");
        let v = judge(
            aud,
            &Seen {
                browser: end("http://127.0.0.1:3000/auth/auth/openid_connect/callback?code=x", 401),
                ..Default::default()
            },
        );
        assert_eq!(v.word(), "rejected");
        // The callback URL carries the code: shown redacted.
        assert!(v.evidence().starts_with("its callback answered 401 (http://127.0.0.1:3000/auth/auth/openid_connect/callback?code=%7Eredacted%7E"), "{v:?}");
        assert!(!v.evidence().contains("code=x"), "{v:?}");
        let v = judge(
            aud,
            &Seen {
                userinfo_called: true,
                browser: end("http://127.0.0.1:3000/", 200),
                ..Default::default()
            },
        );
        assert_eq!(v.word(), "accepted");
        assert!(v.evidence().ends_with("after calling userinfo with the access token"));
        let v = judge(
            aud,
            &Seen { browser: end("https://authentik.test/if/flow/x/", 200), ..Default::default() },
        );
        assert_eq!(v.word(), "undecided");
        // Without the browser: a userinfo call is acceptance, except where userinfo is the test.
        assert_eq!(
            judge(aud, &Seen { token_called: true, userinfo_called: true, browser: None }).word(),
            "accepted"
        );
        let sub = find("userinfo-bad-sub").unwrap();
        assert_eq!(
            judge(sub, &Seen { token_called: true, userinfo_called: true, browser: None }).word(),
            "undecided"
        );
        assert_eq!(judge(aud, &Seen { token_called: true, ..Default::default() }).word(), "undecided");
        assert_eq!(judge(aud, &Seen::default()).word(), "undecided");
    }
}

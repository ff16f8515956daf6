//! `oidc-tap decode TOKEN_OR_FILE`: the jwt.io a support engineer wants on the command line.

use std::io::Read;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cli::DecodeArgs;
use crate::clock::now_ms;
use crate::oidc::jwt::DecodedJwt;
use crate::timefmt::{relative, utc_datetime};

pub fn run(args: &DecodeArgs) -> Result<()> {
    let text = if args.input == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading standard input")?;
        s
    } else if std::path::Path::new(&args.input).is_file() {
        std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input))?
    } else if looks_like_a_path(&args.input) {
        // Not a token (no dots between base64url) and no such file: say that, not "2 segments".
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{}: no such file (and not a JWT either)", args.input),
        )
        .into());
    } else {
        args.input.clone()
    };
    print!("{}", render(&text, (now_ms() / 1000) as i64)?);
    Ok(())
}

/// A path rather than a token: a JWT has only base64url characters and dots.
fn looks_like_a_path(s: &str) -> bool {
    s.contains('/') || s.contains('\\') || s.matches('.').count() < 2
}

/// Renders every token found in `text`: a bare JWT, or the JWT fields of a JSON object
/// (a token response).
pub fn render(text: &str, now: i64) -> Result<String> {
    let trimmed = text.trim();
    let tokens: Vec<(String, String)> = match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| {
                v.as_str().filter(|s| s.matches('.').count() >= 2).map(|s| (k.clone(), s.to_owned()))
            })
            .collect(),
        _ => vec![("token".into(), trimmed.trim_start_matches("Bearer ").to_owned())],
    };
    if tokens.is_empty() {
        return Err(super::exit::usage(
            "no JWT found (expected a token, or JSON with id_token / access_token)",
        ));
    }
    let mut out = String::new();
    for (name, tok) in tokens {
        let j = DecodedJwt::decode(&tok).with_context(|| format!("{name} is not a JWT"))?;
        out.push_str(&format!(
            "== {name} ({})\n",
            if j.is_jwe() { "JWE, encrypted: claims unreadable" } else { "JWS, signature not verified" }
        ));
        out.push_str(&format!(
            "header {}\n",
            serde_json::to_string_pretty(&Value::Object(j.header.clone()))?
        ));
        if !j.is_jwe() {
            out.push_str(&format!(
                "claims {}\n",
                serde_json::to_string_pretty(&Value::Object(j.claims.clone()))?
            ));
            for (claim, future, past) in [
                ("exp", "expires", "expired"),
                ("iat", "issued", "issued"),
                ("nbf", "valid", "valid since"),
                ("auth_time", "authenticated", "authenticated"),
            ] {
                match (j.claims.get(claim), j.claim_time(claim)) {
                    (_, Some(t)) => out.push_str(&format!(
                        "{claim:<9} {t} = {} ({})\n",
                        utc_datetime(t),
                        relative(t, now, future, past)
                    )),
                    (Some(v), None) => out.push_str(&format!(
                        "{claim:<9} {} is not a NumericDate (seconds since 1970 before year 10000)\n",
                        crate::text::printable(&crate::text::truncate(&v.to_string(), 60))
                    )),
                    (None, None) => {}
                }
            }
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fixture_token_response_with_times() {
        let f: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/authentik/token-response.json")).unwrap();
        let body = serde_json::to_string(&f["response"]["body"]).unwrap();
        let out = render(&body, 1_795_600_042 + 60).unwrap();
        assert!(out.contains("== access_token (JWS"));
        assert!(out.contains("== id_token (JWS"));
        assert!(out.contains("\"iss\": \"https://authentik.company/application/o/mastodon/\""));
        assert!(out.contains("exp       1795603642 = 2026-11-25 10:47:22 UTC (expires in 59m00s)"));
        assert!(out.contains("iat       1795600042 = 2026-11-25 09:47:22 UTC (issued 1m00s ago)"));
    }

    #[test]
    fn absurd_times_are_said_to_be_absurd_not_clamped() {
        use base64::Engine;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let tok =
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"exp":18446744073709551615,"iat":1.7e308}"#));
        let out = render(&tok, 0).unwrap();
        assert!(
            out.contains(
                "exp       18446744073709551615 is not a NumericDate (seconds since 1970 before year 10000)\n"
            ),
            "{out}"
        );
        assert!(out.contains("iat       1.7e+308 is not a NumericDate"), "{out}");
        assert!(!out.contains("9223372036854775807"), "{out}");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(render("hello", 0).is_err());
        assert!(render("{\"a\":1}", 0).is_err());
    }
}

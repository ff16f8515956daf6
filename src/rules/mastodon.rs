//! What Mastodon will make of the claims: the account key (uid), email confirmation, and the
//! username it derives (`app/models/concerns/user/omniauthable.rb`).

use serde_json::{Map, Value};

use super::{Ctx, Finding, RuleId, Severity};

/// Mastodon's default reserved usernames (`Setting.reserved_usernames`).
const RESERVED: &[&str] =
    &["admin", "support", "help", "root", "webmaster", "administrator", "mod", "moderator"];

/// `ensure_valid_username`: local part, `[^a-z0-9_]` removed (case-insensitive), 30 chars.
pub fn derive_username(uid: &str) -> String {
    let local = uid.split('@').next().unwrap_or("");
    local.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(30).collect()
}

/// userinfo merged with the ID token claims (the ID token wins), as the strategy does.
fn merged(ctx: &Ctx) -> Option<Map<String, Value>> {
    let ui = ctx.d.userinfo_response.as_ref()?.claims.clone()?;
    let mut m = ui;
    if let Some(idt) = ctx.flow.and_then(|f| f.id_token.as_ref()) {
        for (k, v) in &idt.value.claims {
            m.insert(k.clone(), v.clone());
        }
    }
    Some(m)
}

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    if ctx.d.userinfo_response.as_ref().is_none_or(|u| u.status != 200) {
        return;
    }
    let Some(claims) = merged(ctx) else { return };
    let field = ctx.exp.uid_field.as_str();
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    // MASTODON-UID-CLAIM-MISSING — `uid = raw_attributes[uid_field] || sub`.
    let uid = match claims.get(field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            out.push(
                Finding::new(RuleId::MastodonUidClaimMissing, format!("the claim ⟨uid_field⟩={field} is {}", if other.is_none() { "absent" } else { "empty or not a string" }))
                    .field(format!("claims.{field}"))
                    .evidence(format!("a non-empty {field}"), other.map(|v| v.to_string()).unwrap_or_else(|| "(absent)".into()))
                    .why(ctx.rp.account.without_key(Some(sub)))
                    .fix(if field == "preferred_username" { "request the profile scope (⟨scope⟩=openid,profile,email) and keep authentik's profile mapping".to_owned() } else { format!("⟨uid_field⟩=preferred_username (authentik never sends {field:?})") })
                    .mastodon(format!("creates @{} (from sub)", derive_username(sub))),
            );
            sub.to_owned()
        }
    };
    // MASTODON-UID-CHANGED — same person, another account key.
    for key in [
        claims.get("sub").and_then(Value::as_str).map(|s| format!("sub:{s}")),
        claims.get("email").and_then(Value::as_str).filter(|e| !e.is_empty()).map(|e| format!("email:{e}")),
    ]
    .into_iter()
    .flatten()
    {
        if let Some((old, flow)) = ctx.history.seen.get(&key)
            && old != &uid
            && Some(*flow) != ctx.flow_id
        {
            out.push(
                Finding::new(RuleId::MastodonUidChanged, format!("this user logged in with uid {old:?} in flow {flow}, now {uid:?}"))
                    .field(format!("claims.{field}"))
                    .evidence(old.clone(), uid.clone())
                    .why("⟨app⟩ keys the account on the uid: a new value means a new account, or “Email has already been taken”")
                    .mastodon("creates a second account or fails creating it"),
            );
            break;
        }
    }
    // MASTODON-EMAIL-MISSING / -UNVERIFIED: for an application that needs the address.
    match claims.get("email") {
        _ if !ctx.rp.account.needs_email => {}
        None => out.push(
            Finding::new(RuleId::MastodonEmailMissing, "no email claim")
                .field("claims.email")
                .why(ctx.rp.account.without_email)
                .fix("request the email scope (⟨scope⟩=openid,profile,email) and keep authentik's email mapping")
                .mastodon("redirects to /auth/setup?missing_email=1"),
        ),
        Some(Value::String(e)) if e.is_empty() => out.push(
            Finding::new(RuleId::MastodonEmailMissing, "the email claim is empty")
                .severity(Severity::Error)
                .field("claims.email")
                .evidence("an address", "\"\"")
                .why("the authentik user has no email; ⟨app⟩ tries to save a blank address and account creation fails")
                .fix("give the user an email in authentik")
                .mastodon("fails creating the account"),
        ),
        Some(_) => {
            let verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)) | Some(Value::String(_)));
            let verified = verified && claims.get("email_verified") != Some(&Value::String("false".into()));
            if !verified && !ctx.exp.assume_email_verified && ctx.rp.account.reads_email_verified {
                out.push(
                    Finding::new(RuleId::MastodonEmailUnverified, format!("email_verified is {} and ⟨assume_email_verified⟩ is not set", claims.get("email_verified").map(|v| v.to_string()).unwrap_or_else(|| "absent".into())))
                        .field("claims.email_verified")
                        .evidence("true", claims.get("email_verified").map(|v| v.to_string()).unwrap_or_else(|| "(absent)".into()))
                        .why("new accounts stay unconfirmed and get a confirmation mail (authentik ≥ 2025.10 sends email_verified false by default)")
                        .mastodon("creates an unconfirmed account"),
                );
            }
        }
    }
    // MASTODON-USERNAME — preview of `ensure_valid_username`, where the application derives
    // usernames so.
    if !ctx.rp.account.mastodon_usernames {
        return;
    }
    let name = derive_username(&uid);
    let reserved = RESERVED.contains(&name.to_ascii_lowercase().as_str());
    let mut f = Finding::new(
        RuleId::MastodonUsername,
        if name.is_empty() {
            format!("uid {uid:?} gives an empty ⟨app⟩ username")
        } else {
            format!("⟨app⟩ will create @{name} (if new)")
        },
    )
    .field(format!("claims.{field}"))
    .seen(uid.clone())
    .expected(format!("@{name}"));
    if name.is_empty() || reserved {
        f = f
            .severity(Severity::Warning)
            .why(if reserved {
                "the name is reserved in ⟨app⟩: account creation fails"
            } else {
                "⟨app⟩ keeps only ASCII letters, digits and _"
            })
            .mastodon("fails creating the account");
    }
    out.push(f);
}

#[cfg(test)]
mod tests {
    use super::derive_username;

    #[test]
    fn usernames_like_mastodon() {
        assert_eq!(derive_username("john.doe@example.com"), "johndoe");
        assert_eq!(derive_username("Zoë"), "Zo");
        assert_eq!(derive_username("日本"), "");
        assert_eq!(derive_username(&"a".repeat(64)).len(), 30);
    }
}

//! The embedded demo deployment: an authentik stand-in ([`provider`]) with a switch per
//! failure mode, a scripted Mastodon ([`mastodon`]) and browser ([`browser`]), wired through a
//! real gateway by [`rig`]. `oidc-tap demo` and the end-to-end tests both use it.

pub mod browser;
pub mod derive;
pub mod faults;
pub mod from_trace;
pub mod http;
pub mod mastodon;
pub mod provider;
pub mod remedy;
pub mod rig;

//! OpenID Connect on the wire, sans I/O: classify an exchange, decode it into typed messages,
//! decode JWTs. Everything here is a pure function of captured data.

pub mod caller;
pub mod classify;
pub mod decode;
pub mod flow;
pub mod html;
pub mod interest;
pub mod json_dup;
pub mod jwt;
pub mod messages;
pub mod url;
pub mod www_authenticate;

pub use classify::{EndpointBook, ExchangeKind};
pub use decode::{Decoded, Unreadable, decode_exchange};

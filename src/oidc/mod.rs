//! OpenID Connect on the wire, sans I/O: classify an exchange, decode it into typed messages,
//! decode JWTs. Everything here is a pure function of captured data.

pub mod classify;
pub mod decode;
pub mod jwt;
pub mod messages;

pub use classify::{EndpointBook, ExchangeKind};
pub use decode::{Decoded, RpOutcome, decode_exchange};

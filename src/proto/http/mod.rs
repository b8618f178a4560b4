//! HTTP/1.x requests: method, host, URI, user agent, CONNECT targets.
//!
//! - [`parser`]: zero-copy request/status line and header views
//!   (RFC 9112 §3-§5), bounded to [`parser::MAX_HEAD`] bytes.
//! - [`stream`]: the probe, the per-flow state and the owned
//!   [`HttpRecord`].
pub mod parser;
pub mod stream;

pub use stream::HttpRecord;

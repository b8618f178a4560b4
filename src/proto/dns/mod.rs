//! DNS over UDP and TCP: queries and A/AAAA/CNAME answers, and the
//! address-to-names cache.
//!
//! - [`parser`]: zero-copy message view (RFC 1035 §4.1), loop-safe names.
//! - [`record`]: the owned, capped `dns` record of a flow.
//! - [`stream`]: probes and the per-flow state (UDP datagrams, TCP
//!   length-prefixed messages).
//! - [`cache`]: [`NameCache`], filled from A/AAAA answers; the engine
//!   names each flow's far end from it (`remote_names`).
pub mod cache;
pub mod parser;
pub mod record;
pub mod stream;

pub use cache::NameCache;
pub use parser::{DnsError, Message, NameBuf};
pub use record::{DnsAnswer, DnsQuery, DnsRecord};

//! TLS dissector: zero-copy views over records and hello messages
//! ([`parser`]), code points ([`types`]), and the BSD-licensed client
//! fingerprints JA3/JA3S ([`ja3`], Salesforce) and JA4 ([`ja4`], FoxIO,
//! BSD-3-Clause). Other JA4+ methods (JA4S, JA4H, JA4X...) are under the
//! FoxIO licence and deliberately absent.
//!
//! The entry point is [`first_hello`]: give it the contiguous stream prefix
//! of one TCP direction and it returns the first ClientHello or ServerHello
//! body, borrowed from the stream when it sits in one record, or reassembled
//! into a caller-provided scratch buffer when it spans several records.

pub mod assemble;
pub mod cert;
pub mod dtls;
pub mod ja3;
pub mod ja4;
pub mod parser;
pub mod stream;
pub mod types;

#[cfg(test)]
mod samples;

pub use parser::{
    first_hello, is_grease, parse_client_hello, parse_server_hello, AlpnList, ClientHello,
    Extension, Extensions, Handshake, Record, ServerHello, TlsError, U16List,
};
pub use stream::{TlsRecord, TlsStream};
pub use types::{CipherSuite, ContentType, ExtensionType, HandshakeType, ProtocolVersion};

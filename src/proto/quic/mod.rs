//! QUIC dissector: opens the client's Initial packets (whose keys anyone
//! can derive from the packet itself, RFC 9001 §5.2) to reach the TLS
//! ClientHello inside, so that QUIC connections are fingerprinted (JA3,
//! JA4 with its `q` prefix) and named (SNI, ALPN) like TLS over TCP.
//!
//! - [`packet`]: long-header view (RFC 9000 §17.2), versions and their
//!   Initial salts, labels and type bits (v1, v2 of RFC 9369, drafts
//!   27 to 34);
//! - [`crypto`]: Initial keys (HKDF-Expand-Label, RFC 8446 §7.1), header
//!   protection removal (RFC 9001 §5.4) and AES-128-GCM payload
//!   decryption (§5.3);
//! - [`frames`]: the frames allowed in Initial packets (RFC 9000 §12.4);
//! - [`flow`]: per-flow state: CRYPTO reassembly over the first datagrams
//!   of each side, the probe, the owned [`QuicRecord`].
//!
//! **The one exception to zero-copy.** Header protection and AEAD
//! decryption transform bytes in place, and the captured packet is
//! borrowed read-only: each Initial packet of the first
//! [`flow::MAX_DATAGRAMS`] datagrams of a side is copied into one per-flow
//! scratch buffer (at most [`flow::MAX_INITIAL_PACKET`] bytes, allocated at
//! the flow's first Initial), and the CRYPTO stream is gathered into a
//! bounded assembler (16 KiB). Both are released once the hellos were
//! parsed or the datagram budget is spent; later packets cost one compare.

pub mod crypto;
pub mod flow;
pub mod frames;
pub mod packet;

#[cfg(test)]
mod vectors;

use serde::Serialize;

pub use flow::{probe, QuicFlow};
pub use packet::{LongHeader, Version};

/// Why bytes are not (yet) a usable QUIC Initial. `at` is an offset in
/// the packet (or payload, for frames) given to the failing function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuicError {
    #[error("QUIC: truncated {what} at offset {at}")]
    Truncated { what: &'static str, at: usize },
    #[error("QUIC: malformed {what} at offset {at}")]
    Malformed { what: &'static str, at: usize },
    /// The AEAD tag did not verify (wrong keys, or altered bytes).
    #[error("QUIC: payload authentication failed (payload at offset {at})")]
    Decrypt { at: usize },
}

/// What a flow's QUIC Initials showed (the `quic` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QuicRecord {
    /// `"1"`, `"2"`, `"draft-29"`, else `0x` and 8 hex digits.
    pub version: String,
    /// The Destination Connection ID of the client's first Initial (the
    /// one the Initial keys derive from), lowercase hex.
    pub dcid: String,
    /// The client's Source Connection ID, lowercase hex (may be empty).
    pub scid: String,
}

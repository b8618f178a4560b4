//! SSH dissector (RFC 4253): the identification string and SSH_MSG_KEXINIT
//! of each direction, and the HASSH fingerprints built from them.
//!
//! - [`parser`]: zero-copy views ([`Banner`], [`BinaryPacket`], [`KexInit`])
//!   and pure parse functions over a stream prefix.
//! - [`hassh`]: HASSH / HASSH-server strings and MD5 hashes.
//! - [`record`]: the owned, capped [`SshSideRecord`] a flow keeps.

pub mod hassh;
pub mod parser;
pub mod record;

pub use hassh::{Hassh, Role};
pub use parser::{
    parse_banner, parse_kexinit, parse_stream, Anomalies, Banner, BinaryPacket, KexInit,
    MessageType, NameList, SshError, SshStart,
};
pub use record::{KexInitLists, SshSideRecord};

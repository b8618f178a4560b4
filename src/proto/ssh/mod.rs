//! SSH dissector (RFC 4253): the identification string and SSH_MSG_KEXINIT
//! of each direction, and the HASSH fingerprints built from them.
//!
//! - [`parser`]: zero-copy views ([`Banner`], [`BinaryPacket`], [`KexInit`])
//!   and pure parse functions over a stream prefix.
//! - [`hassh`]: HASSH / HASSH-server strings and MD5 hashes.
//! - [`record`]: the owned, capped [`SshSideRecord`] a flow keeps.
//! - [`kex`]: the clear-text key-exchange messages after KEXINIT and the
//!   strict request/reply pairs among them (`app_rtt`).
//!
//! Contract with the flow: parse a direction's prefix each time it grows
//! ([`SshSideRecord::from_stream`] with the role of that direction's
//! sender, `Role::from(dir)`).
//! - `Err(Incomplete)`: wait for bytes. The banner's verdict comes within
//!   16 KiB (8192 bytes of pre-banner lines, 8192 of banner line); KEXINIT
//!   may take up to 8 packets of at most 35004 bytes, so a flow whose prefix
//!   is full while still `Incomplete` gives up (and keeps any banner record).
//! - `Ok(record)` with `record.is_final()`: stop reassembly of the direction.
//! - `Malformed`/`Unsupported`: stop inspecting the direction; count it.

pub mod hassh;
pub mod kex;
pub mod parser;
pub mod record;
pub mod stream;

pub use hassh::{Hassh, Role};
pub use parser::{
    parse_banner, parse_kexinit, parse_stream, Anomalies, Banner, BinaryPacket, KexInit,
    MessageType, NameList, SshError, SshStart,
};
pub use record::{KexInitLists, SshSideRecord};
pub use stream::{SshRecord, SshStream};

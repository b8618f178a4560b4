//! Application-protocol dissectors (TLS, SSH, RDP, VNC...): see issue 3.
//! Each protocol gets its own folder here; they are fed the reassembled
//! stream prefix of each TCP direction, or each datagram.
pub(crate) mod hex;
pub mod ssh;
pub mod tls;

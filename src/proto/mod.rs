//! Application-protocol dissectors (TLS, SSH, RDP, VNC...): each protocol
//! in its own folder, parser apart from its per-flow state and its record.
//!
//! - [`app`]: the contract: what a dissector is told and answers, and the
//!   owned [`AppSummary`] a flow keeps.
//! - [`dispatch`]: picks a flow's dissector by probing its first bytes and
//!   feeds it the reassembled stream prefix of each TCP direction, or each
//!   datagram.
pub mod app;
pub mod classify;
pub mod dhcp;
pub mod dispatch;
pub mod dns;
pub(crate) mod hex;
pub mod http;
pub mod nx;
pub mod quic;
pub mod rdp;
pub mod socks;
pub mod ssh;
pub mod tls;
pub mod vnc;
pub mod vpn;

pub use app::{Anomaly, AppProto, AppSummary, FlowCx, Probe, Progress, RemoteAccess};
pub use dispatch::AppState;

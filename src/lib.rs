//! gatewatch: a network sensor for corporate gateways that flags
//! remote-access sessions coming through laptop farms, VPN exits and
//! unexpected geographies.
//!
//! The library does all the work; the `gatewatch` binary is a thin shell.
//! Data flows through one folder per concern:
//!
//! ```text
//! capture  -> decode  -> flow    -> proto     -> enrich -> detect -> output
//! (frames)    (packets)  (flows,    (dissectors,  (GeoIP)   (policy)  (JSON lines)
//!                        prefixes)   issue 3)
//! ```
//!
//! [`pipeline`] wires them together and spreads flows over worker threads.

pub mod capture;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod detect;
pub mod enrich;
pub mod flow;
pub mod output;
pub mod pipeline;
mod prefix;
pub mod proto;
pub mod site;

#[cfg(test)]
mod testutil;

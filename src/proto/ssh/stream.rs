//! SSH over a TCP stream: the clear-text start of each side (banner,
//! KEXINIT, HASSH) and, once the keys are exchanged, the shape of the
//! encrypted traffic, which tells an interactive session (keystroke-sized
//! packets echoed back) from a bulk transfer or a tunnel.
//!
//! The traffic shape is measured per packet from payload sizes and times
//! only: nothing encrypted is read or kept.

use serde::Serialize;

use super::hassh::Role;
use super::kex::{KexPairs, KexWalk};
use super::parser::{Anomalies, SshError};
use super::record::SshSideRecord;
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppSummary, FlowCx, Probe, Progress};

const LAYER: &str = "ssh";

/// A client packet at most this long is keystroke-sized: one character in
/// an encrypted SSH packet is 36-64 bytes with the usual ciphers and MACs.
pub const KEYSTROKE_MAX: usize = 100;
/// A server packet at most this long, this soon after a keystroke, is its
/// echo.
pub const ECHO_MAX: usize = 200;
pub const ECHO_WITHIN_NS: i64 = 500_000_000;
/// Bulk: packets of at least this size.
pub const BULK_MIN: usize = 1000;

/// How the encrypted part of a session behaved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SshActivity {
    /// Client packets of keystroke size.
    pub keystrokes: u32,
    /// Of those, how many the server echoed within [`ECHO_WITHIN_NS`].
    pub echoed: u32,
    /// Packets with payload after both KEXINITs, per direction.
    pub packets: [u32; 2],
    /// Payload bytes after both KEXINITs, per direction.
    pub bytes: [u64; 2],
    /// Packets of at least [`BULK_MIN`] bytes, per direction.
    pub bulk_packets: [u32; 2],
    #[serde(skip)]
    last_keystroke: Option<Timestamp>,
}

impl SshActivity {
    fn on_packet(&mut self, dir: Direction, len: usize, ts: Timestamp) {
        let d = dir.index();
        if let (Some(p), Some(b), Some(k)) = (
            self.packets.get_mut(d),
            self.bytes.get_mut(d),
            self.bulk_packets.get_mut(d),
        ) {
            *p = p.saturating_add(1);
            *b = b.saturating_add(len as u64);
            if len >= BULK_MIN {
                *k = k.saturating_add(1);
            }
        }
        match dir {
            Direction::ToServer if len <= KEYSTROKE_MAX => {
                self.keystrokes = self.keystrokes.saturating_add(1);
                self.last_keystroke = Some(ts);
            }
            Direction::ToClient if len <= ECHO_MAX => {
                if let Some(k) = self.last_keystroke.take() {
                    if ts.0.saturating_sub(k.0) <= ECHO_WITHIN_NS {
                        self.echoed = self.echoed.saturating_add(1);
                    }
                }
            }
            _ => {}
        }
    }

    /// `"interactive"`, `"transfer"`, `"tunnel"` or `"short"` (too little
    /// traffic to tell).
    pub fn kind(&self) -> &'static str {
        let [up, down] = self.bytes;
        let [bulk_up, bulk_down] = self.bulk_packets;
        if self.echoed >= 5 && u64::from(self.echoed) * 2 >= u64::from(self.packets[0]) {
            "interactive"
        } else if (up.max(down) >= 1 << 20) && up.max(down) >= 20 * up.min(down).max(1) {
            "transfer"
        } else if bulk_up >= 10 && bulk_down >= 10 {
            "tunnel"
        } else if self.echoed >= 5 {
            "interactive"
        } else {
            "short"
        }
    }
}

/// What a flow's SSH showed (the `ssh` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshRecord {
    pub client: Option<SshSideRecord>,
    pub server: Option<SshSideRecord>,
    pub activity: SshActivity,
}

impl SshRecord {
    /// Keystroke-sized client packets, most of them echoed.
    pub fn interactive(&self) -> bool {
        self.activity.kind() == "interactive"
    }
}

/// The event form: banners without CR LF, fingerprints, and the shape.
#[derive(Serialize)]
struct SshJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hassh: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hassh_server: Option<&'a str>,
    interactive: bool,
    activity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kex: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_key_algorithms: Option<&'a str>,
}

impl Serialize for SshRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let side_hash = |r: &'_ Option<SshSideRecord>| -> Option<String> {
            r.as_ref()
                .and_then(|r| r.hassh.as_ref())
                .map(|h| h.hash.clone())
        };
        let (ch, sh) = (side_hash(&self.client), side_hash(&self.server));
        SshJson {
            client: self.client.as_ref().map(|r| r.banner_lossy()),
            server: self.server.as_ref().map(|r| r.banner_lossy()),
            hassh: ch.as_deref(),
            hassh_server: sh.as_deref(),
            interactive: self.interactive(),
            activity: self.activity.kind(),
            kex: self
                .client
                .as_ref()
                .and_then(|r| r.kexinit.as_ref())
                .map(|k| k.kex_algorithms.as_str()),
            host_key_algorithms: self
                .server
                .as_ref()
                .and_then(|r| r.kexinit.as_ref())
                .map(|k| k.server_host_key_algorithms.as_str()),
        }
        .serialize(s)
    }
}

/// Does this direction start with an SSH identification string (RFC 4253
/// §4.2)? Servers may send other lines first, so only a first line that
/// starts otherwise and is complete rules SSH out... for the client side;
/// a server's pre-banner lines keep the question open.
pub fn probe(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    const MAGIC: &[u8] = b"SSH-";
    let n = bytes.len().min(MAGIC.len());
    if bytes.get(..n) == MAGIC.get(..n) {
        return if n == MAGIC.len() {
            Probe::Match
        } else {
            Probe::NeedMore
        };
    }
    match dir {
        Direction::ToServer => Probe::NoMatch,
        // §4.2: "The server MAY send other lines of data before sending
        // the version string"; give it one printable line to do so.
        Direction::ToClient => match bytes.iter().position(|&b| b == b'\n') {
            Some(_) if bytes.windows(5).any(|w| w == b"\nSSH-") => Probe::Match,
            None if bytes.len() < 256
                && bytes
                    .iter()
                    .all(|&b| (0x20..0x7f).contains(&b) || b == b'\r' || b == b'\t') =>
            {
                Probe::NeedMore
            }
            _ => Probe::NoMatch,
        },
    }
}

/// One flow's SSH parse state.
#[derive(Debug, Default)]
pub struct SshStream {
    /// KEXINIT seen (or never coming), per direction: the record is final.
    final_side: [bool; 2],
    /// Each direction's clear-text packets up to NEWKEYS (`app_rtt`).
    kex: [KexWalk; 2],
    pairs: KexPairs,
}

impl SshStream {
    pub fn new() -> SshStream {
        SshStream::default()
    }

    /// Feed the whole contiguous prefix of `dir`. The direction is done
    /// once its record is final (KEXINIT) and its clear-text key exchange
    /// has been read to NEWKEYS.
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        let d = dir.index();
        let record_done = self.final_side.get(d).copied().unwrap_or(true)
            || self.side_record(dir, prefix, ts, summary) == Progress::Done;
        let kex_done = self.walk_kex(dir, prefix, ts, summary);
        if record_done && kex_done {
            Progress::Done
        } else {
            Progress::NeedMore
        }
    }

    /// Read the key-exchange messages the segment at `ts` completed and
    /// pair them (see [`super::kex`]). True when the walk is over.
    fn walk_kex(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> bool {
        let Some(walk) = self.kex.get_mut(dir.index()) else {
            return true;
        };
        if walk.is_done() {
            return true;
        }
        if !walk.is_started() {
            match super::parser::parse_banner(prefix) {
                Ok(b) if b.is_ssh2() => walk.start_at(b.end()),
                Ok(_) => walk.stop(),
                Err(SshError::Incomplete { .. }) => return false,
                Err(_) => walk.stop(),
            }
        }
        let pairs = &mut self.pairs;
        let rtt = &mut summary.app_rtt;
        // A malformed packet after KEXINIT only ends the walk: the record
        // reports what was malformed before it.
        let _ = walk.feed(prefix, ts, |m| pairs.on_message(dir, m, rtt));
        walk.is_done()
    }

    /// Build this direction's record from its clear-text start (banner,
    /// KEXINIT); `Done` once it is final.
    fn side_record(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        let rec = summary.ssh.get_or_insert_with(SshRecord::default);
        let role = Role::from(dir);
        match SshSideRecord::from_stream(prefix, role) {
            Ok(side) => {
                let is_final = side.is_final();
                if let Some(SshError::Malformed { .. }) = side.kexinit_error {
                    summary
                        .anomalies
                        .push(LAYER, "malformed_kexinit", Some(dir), None, ts);
                }
                if side.anomalies.contains(Anomalies::LONG_BANNER) {
                    summary
                        .anomalies
                        .push(LAYER, "banner_over_cap", Some(dir), None, ts);
                }
                match dir {
                    Direction::ToServer => rec.client = Some(side),
                    Direction::ToClient => rec.server = Some(side),
                }
                if is_final {
                    if let Some(f) = self.final_side.get_mut(dir.index()) {
                        *f = true;
                    }
                    Progress::Done
                } else {
                    Progress::NeedMore
                }
            }
            Err(SshError::Incomplete { .. }) => Progress::NeedMore,
            Err(e) => {
                summary.anomalies.push(
                    LAYER,
                    "malformed_banner",
                    Some(dir),
                    Some(&e.to_string()),
                    ts,
                );
                if let Some(w) = self.kex.get_mut(dir.index()) {
                    w.stop();
                }
                Progress::Done
            }
        }
    }

    /// Every packet of the flow with a payload: once both sides' clear text
    /// is done, count it towards the traffic shape.
    pub fn on_packet(
        &mut self,
        dir: Direction,
        len: usize,
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        if self.final_side == [true, true] {
            if let Some(rec) = summary.ssh.as_mut() {
                rec.activity.on_packet(dir, len, ts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 50000,
            dst_port: 22,
            ip_proto: 6,
        }
    }

    #[test]
    fn probe_banner() {
        assert_eq!(probe(&cx(), Direction::ToServer, b"SS"), Probe::NeedMore);
        assert_eq!(
            probe(&cx(), Direction::ToServer, b"SSH-2.0-x"),
            Probe::Match
        );
        assert_eq!(probe(&cx(), Direction::ToServer, b"GET /"), Probe::NoMatch);
        assert_eq!(probe(&cx(), Direction::ToClient, b"hello"), Probe::NeedMore);
        assert_eq!(
            probe(&cx(), Direction::ToClient, b"hello\r\nSSH-2.0-x\r\n"),
            Probe::Match
        );
        assert_eq!(
            probe(&cx(), Direction::ToClient, b"RFB 003.008\n"),
            Probe::NoMatch
        );
    }

    #[test]
    fn keystrokes_echoed_are_interactive() {
        let mut a = SshActivity::default();
        let mut t = 0i64;
        for _ in 0..20 {
            a.on_packet(Direction::ToServer, 36, Timestamp(t));
            a.on_packet(Direction::ToClient, 36, Timestamp(t + 20_000_000));
            t += 300_000_000;
        }
        assert_eq!((a.keystrokes, a.echoed), (20, 20));
        assert_eq!(a.kind(), "interactive");
    }

    #[test]
    fn one_way_bulk_is_a_transfer() {
        let mut a = SshActivity::default();
        for i in 0..1000 {
            a.on_packet(Direction::ToClient, 1448, Timestamp(i));
            if i % 10 == 0 {
                a.on_packet(Direction::ToServer, 36, Timestamp(i));
            }
        }
        assert_eq!(a.kind(), "transfer");
    }

    #[test]
    fn two_way_bulk_is_a_tunnel() {
        let mut a = SshActivity::default();
        for i in 0..200 {
            a.on_packet(Direction::ToClient, 1448, Timestamp(i));
            a.on_packet(Direction::ToServer, 1448, Timestamp(i));
        }
        assert_eq!(a.kind(), "tunnel");
    }
}

//! NoMachine's NX protocol on TCP: each side opens with one text line (the
//! client `NXSH-<version>\n`, the server `NXD-<version>\n`; nDPI corpus
//! `nomachine.pcapng`, read with tshark), then the session runs inside TLS.
//! This dissector reads both lines and hands the rest of each direction to
//! [`TlsStream::starting_at`], so the TLS hello behind the banners gets its
//! fingerprints. Which product it is stays the catalogue's answer.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppSummary, FlowCx, Probe, Progress};
use crate::proto::tls::stream::TlsStream;

const CLIENT_MAGIC: &[u8] = b"NXSH-";
const SERVER_MAGIC: &[u8] = b"NXD-";
/// Longest banner line accepted (real ones are about a dozen bytes).
const MAX_LINE: usize = 64;
const LAYER: &str = "nx";

/// A client line starting `NXSH-`, or a server line starting `NXD-`.
pub fn probe(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    let magic = match dir {
        Direction::ToServer => CLIENT_MAGIC,
        Direction::ToClient => SERVER_MAGIC,
    };
    let n = bytes.len().min(magic.len());
    match (bytes.get(..n) == magic.get(..n), n == magic.len()) {
        (true, true) => Probe::Match,
        (true, false) => Probe::NeedMore,
        (false, _) => Probe::NoMatch,
    }
}

/// Where a direction's banner line ends (after its `\n`).
fn line_end(b: &[u8]) -> Option<usize> {
    b.iter()
        .take(MAX_LINE)
        .position(|&c| c == b'\n')
        .map(|i| i + 1)
}

/// One flow's NX state: the two banner lengths, then the inner TLS.
#[derive(Debug, Default)]
pub struct NxStream {
    ends: [Option<usize>; 2],
    inner: Option<TlsStream>,
    failed: bool,
}

impl NxStream {
    pub fn new() -> NxStream {
        NxStream::default()
    }

    /// The TLS this NX connection carries, once it started (the dispatcher
    /// forwards per-packet timing to it, for `app_rtt`).
    pub fn inner_tls(&mut self) -> Option<&mut TlsStream> {
        self.inner.as_mut()
    }

    /// Feed the whole contiguous prefix of `dir`; `other` is the other
    /// direction's (TLS starts only once both banners are known).
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        other: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        if let Some(tls) = self.inner.as_mut() {
            return tls.on_stream(dir, prefix, ts, summary);
        }
        if self.failed {
            return Progress::Done;
        }
        for (d, bytes) in [(dir, prefix), (dir.reverse(), other)] {
            let i = d.index();
            if self.ends.get(i).copied().flatten().is_some() || bytes.is_empty() {
                continue;
            }
            match line_end(bytes) {
                Some(end) => {
                    if let Some(slot) = self.ends.get_mut(i) {
                        *slot = Some(end);
                    }
                }
                None if bytes.len() >= MAX_LINE => {
                    summary
                        .anomalies
                        .push(LAYER, "banner_over_cap", Some(d), None, ts);
                    self.failed = true;
                    return Progress::Done;
                }
                None => {}
            }
        }
        let [Some(c), Some(s)] = self.ends else {
            return Progress::NeedMore;
        };
        let tls = self.inner.insert(TlsStream::starting_at(c, s));
        tls.on_stream(dir, prefix, ts, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 48084,
            dst_port: 4000,
            ip_proto: 6,
        }
    }

    #[test]
    fn banners_from_the_corpus() {
        // nDPI nomachine.pcapng, 192.168.88.231:48084 -> 192.168.88.208:4000,
        // frames 4 and 6 (tshark tcp.payload): "NXSH-8.10.1\n", "NXD-8.10.1\n".
        let client = hex("4e5853482d382e31302e310a");
        let server = hex("4e58442d382e31302e310a");
        assert_eq!(probe(&cx(), Direction::ToServer, &client), Probe::Match);
        assert_eq!(probe(&cx(), Direction::ToClient, &server), Probe::Match);
        assert_eq!(probe(&cx(), Direction::ToServer, b"NX"), Probe::NeedMore);
        assert_eq!(probe(&cx(), Direction::ToServer, b"GET /"), Probe::NoMatch);
        assert_eq!(line_end(&client), Some(12));
        assert_eq!(line_end(&server), Some(11));
        let mut s = NxStream::new();
        let mut sum = AppSummary::default();
        let t = Timestamp(0);
        assert_eq!(
            s.on_stream(Direction::ToServer, &client, &[], t, &mut sum),
            Progress::NeedMore
        );
        s.on_stream(Direction::ToClient, &server, &client, t, &mut sum);
        assert!(s.inner.is_some());
    }

    #[test]
    fn endless_banner_is_an_anomaly() {
        let mut s = NxStream::new();
        let mut sum = AppSummary::default();
        let long = [b'a'; 100];
        s.on_stream(Direction::ToServer, &long, &[], Timestamp(0), &mut sum);
        assert_eq!(sum.anomalies.kept.len(), 1);
    }
}

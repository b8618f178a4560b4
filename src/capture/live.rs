//! Live capture from a network interface through libpcap.
//!
//! Reads use libpcap's read timeout so that a quiet interface never blocks
//! the caller for longer than `timeout_ms`: between packets the source checks
//! its duration and its stop flag. On Linux, libpcap's TPACKET_V3 ring (used
//! when immediate mode is off) may not wake a blocked read when traffic stops,
//! so the handle is put in non-blocking mode and waits in `poll(2)` with the
//! timeout itself.
//!
//! Immediate delivery on Linux does not use libpcap's immediate mode: that
//! mode makes libpcap fall back from the TPACKET_V3 ring to TPACKET_V2, whose
//! slots are all one size, the snapshot length (or the MTU) plus headers. At
//! snaplen 65535 a 32 MiB buffer then holds about 500 frames, under a
//! millisecond at a few hundred thousand packets per second, and the kernel
//! drops whatever arrives while the reader is off the CPU (measured: 27-39%
//! drops at ~350 kpps where tcpdump, on TPACKET_V3, dropped none; see
//! BENCHMARKS.md). TPACKET_V3 packs frames of any size into large blocks, so
//! the same buffer holds ~100k typical frames; the kernel hands over a block
//! when it is full or when its retire timer (libpcap's read timeout) fires.
//! Immediate delivery is therefore the V3 ring with a 1 ms block timeout:
//! packets reach the reader within a millisecond or so (the kernel rounds
//! the timer up to a jiffy), and an idle link costs no wake-ups (an empty
//! block is not handed over). The kernel's side is described in
//! Documentation/networking/packet_mmap.rst ("TPACKET_V3").
//!
//! Timestamps are libpcap's default microsecond time stamps (the pcap crate
//! does not report whether a nanosecond request was granted).

use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcap::{Active, Capture};

use crate::capture::{CaptureError, Frame, LinkType, PacketSource, SourceStats, Timestamp};

/// The kernel ring's block timeout when immediate delivery is asked for
/// (Linux), milliseconds: see the module documentation.
const IMMEDIATE_BLOCK_TIMEOUT_MS: i32 = 1;

/// libpcap's immediate-mode flag and read timeout for the options: on
/// Linux, immediate delivery is a short block timeout on the TPACKET_V3
/// ring rather than libpcap's immediate mode (which forces TPACKET_V2);
/// elsewhere libpcap's immediate mode has no such cost.
fn pcap_mode(immediate: bool, timeout_ms: i32) -> (bool, i32) {
    if cfg!(target_os = "linux") {
        let timeout = if immediate {
            IMMEDIATE_BLOCK_TIMEOUT_MS
        } else {
            timeout_ms
        };
        (false, timeout)
    } else {
        (immediate, timeout_ms)
    }
}

/// How to open an interface.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub interface: String,
    /// A BPF filter expression (tcpdump syntax).
    pub bpf: Option<String>,
    /// Stop after this much wall-clock time.
    pub duration: Option<Duration>,
    pub snaplen: i32,
    pub promisc: bool,
    /// Deliver packets as they arrive rather than in batches (on Linux:
    /// within about a millisecond; see the module documentation).
    pub immediate: bool,
    /// Kernel buffer size in bytes (libpcap's default when `None`).
    pub buffer_size: Option<i32>,
    /// Longest wait for a packet before checking duration and stop flag.
    pub timeout_ms: i32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            interface: String::new(),
            bpf: None,
            duration: None,
            snaplen: 65535,
            promisc: true,
            immediate: true,
            buffer_size: None,
            timeout_ms: 100,
        }
    }
}

/// Frames from a live interface.
pub struct LiveSource {
    interface: String,
    cap: Capture<Active>,
    link: LinkType,
    deadline: Option<Instant>,
    timeout_ms: i32,
    stop: Arc<AtomicBool>,
    stats: SourceStats,
}

impl LiveSource {
    /// Open and activate the interface, apply the filter.
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, CaptureError> {
        let err = |e: pcap::Error| CaptureError::Live {
            interface: opts.interface.clone(),
            message: e.to_string(),
        };
        let timeout_ms = opts.timeout_ms.max(1);
        let (immediate, pcap_timeout) = pcap_mode(opts.immediate, timeout_ms);
        let mut inactive = Capture::from_device(opts.interface.as_str())
            .map_err(err)?
            .snaplen(opts.snaplen)
            .promisc(opts.promisc)
            .immediate_mode(immediate)
            .timeout(pcap_timeout);
        if let Some(size) = opts.buffer_size {
            inactive = inactive.buffer_size(size);
        }
        let mut cap = inactive.open().map_err(err)?;
        if let Some(bpf) = &opts.bpf {
            cap.filter(bpf, true).map_err(err)?;
        }
        let cap = cap.setnonblock().map_err(err)?;
        let link = LinkType::from_linktype(u32::try_from(cap.get_datalink().0).unwrap_or(u32::MAX));
        Ok(LiveSource {
            interface: opts.interface.clone(),
            cap,
            link,
            deadline: opts.duration.map(|d| Instant::now() + d),
            timeout_ms,
            stop: Arc::new(AtomicBool::new(false)),
            stats: SourceStats::default(),
        })
    }

    /// A flag that ends the capture (the next read returns `Ok(None)`
    /// within one timeout) when set, e.g. from a signal handler thread.
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The link type libpcap reports for the interface.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    fn finished(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Refresh the drop counters from libpcap.
    pub fn refresh_stats(&mut self) {
        if let Ok(s) = self.cap.stats() {
            self.stats.kernel_drops = u64::from(s.dropped);
            self.stats.interface_drops = u64::from(s.if_dropped);
        }
    }

    /// Wait until the handle is readable or the timeout (bounded by the
    /// deadline) passes.
    fn wait(&self) -> Result<(), CaptureError> {
        let mut ms = self.timeout_ms;
        if let Some(d) = self.deadline {
            let left = d.saturating_duration_since(Instant::now()).as_millis();
            ms = ms.min(i32::try_from(left).unwrap_or(i32::MAX).max(1));
        }
        let mut pfd = libc::pollfd {
            fd: self.cap.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, the count says one; poll only writes
        // `revents`.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(CaptureError::Live {
                    interface: self.interface.clone(),
                    message: format!("poll: {e}"),
                });
            }
        }
        Ok(())
    }
}

impl PacketSource for LiveSource {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        let (ts, orig_len, data) = loop {
            if self.finished() {
                self.refresh_stats();
                return Ok(None);
            }
            match self.cap.next_packet() {
                Ok(packet) => {
                    let h = packet.header;
                    let ts = Timestamp::from_secs_nanos(
                        #[allow(clippy::useless_conversion)] // time_t is i32 on some targets
                        i64::from(h.ts.tv_sec),
                        u32::try_from(h.ts.tv_usec)
                            .unwrap_or(0)
                            .saturating_mul(1_000),
                    );
                    break (ts, h.len, std::ptr::from_ref::<[u8]>(packet.data));
                }
                Err(pcap::Error::TimeoutExpired) => {
                    self.refresh_stats();
                    self.wait()?;
                }
                Err(e) => {
                    return Err(CaptureError::Live {
                        interface: self.interface.clone(),
                        message: e.to_string(),
                    })
                }
            }
        };
        // SAFETY: `data` points into libpcap's buffer, which stays valid
        // until the next read on this handle; reads need `&mut self`, and the
        // returned frame borrows `self`, so none can happen while it lives.
        // (A plain borrow is refused only because the loop retries after a
        // timeout: the borrow checker's known conditional-return limitation.)
        let data = unsafe { &*data };
        Ok(Some(Frame {
            ts,
            link: self.link,
            orig_len,
            interface: 0,
            data,
        }))
    }

    fn name(&self) -> &str {
        &self.interface
    }

    fn stats(&self) -> SourceStats {
        self.stats
    }
}

/// The service reads several interfaces from one thread: it takes what is
/// ready and waits in `poll(2)` on all of them (see `pipeline::service`).
impl crate::pipeline::service::LiveInput for LiveSource {
    fn poll_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(packet) => {
                let h = packet.header;
                let ts = Timestamp::from_secs_nanos(
                    #[allow(clippy::useless_conversion)] // time_t is i32 on some targets
                    i64::from(h.ts.tv_sec),
                    u32::try_from(h.ts.tv_usec)
                        .unwrap_or(0)
                        .saturating_mul(1_000),
                );
                Ok(Some(Frame {
                    ts,
                    link: self.link,
                    orig_len: h.len,
                    interface: 0,
                    data: packet.data,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(None),
            Err(e) => Err(CaptureError::Live {
                interface: self.interface.clone(),
                message: e.to_string(),
            }),
        }
    }

    fn fd(&self) -> Option<i32> {
        Some(self.cap.as_raw_fd())
    }

    fn drops(&mut self) -> SourceStats {
        self.refresh_stats();
        self.stats
    }

    fn name(&self) -> &str {
        &self.interface
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quiet capture must end when its duration is over, not block in
    /// libpcap. Needs CAP_NET_RAW; skipped without it.
    #[test]
    fn quiet_loopback_capture_ends_on_time() {
        let opts = LiveOptions {
            interface: "lo".into(),
            // A filter nothing matches keeps the capture quiet.
            bpf: Some("udp port 9 and host 192.0.2.1".into()),
            duration: Some(Duration::from_millis(300)),
            ..LiveOptions::default()
        };
        let mut src = match LiveSource::open(&opts) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipping: {e}");
                return;
            }
        };
        assert_eq!(src.link_type(), LinkType::Ethernet);
        let t0 = Instant::now();
        assert!(src.next_frame().unwrap().is_none());
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_secs(2),
            "{took:?}"
        );

        let stop = LiveSource::open(&LiveOptions {
            duration: None,
            ..opts
        })
        .unwrap();
        let flag = stop.stop_handle();
        let mut stop = stop;
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            flag.store(true, Ordering::Relaxed);
        });
        assert!(stop.next_frame().unwrap().is_none());
        t.join().unwrap();
    }

    /// `getsockopt(SOL_PACKET, PACKET_VERSION)` and the ring versions, from
    /// linux/if_packet.h (`enum tpacket_versions`).
    #[cfg(target_os = "linux")]
    const PACKET_VERSION: libc::c_int = 10;
    #[cfg(target_os = "linux")]
    const TPACKET_V3: libc::c_int = 2;

    /// Immediate delivery must keep the TPACKET_V3 ring: libpcap's own
    /// immediate mode falls back to TPACKET_V2, whose fixed 64 KiB slots
    /// (snaplen 65535) made a 32 MiB ring hold ~500 frames and drop a third
    /// of a 350 kpps replay. Needs CAP_NET_RAW; skipped without it.
    #[cfg(target_os = "linux")]
    #[test]
    fn immediate_delivery_keeps_the_v3_ring() {
        for immediate in [true, false] {
            let opts = LiveOptions {
                interface: "lo".into(),
                immediate,
                buffer_size: Some(32 << 20),
                ..LiveOptions::default()
            };
            let src = match LiveSource::open(&opts) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("skipping: {e}");
                    return;
                }
            };
            let mut version: libc::c_int = -1;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: a valid descriptor, an int-sized output and its length.
            let rc = unsafe {
                libc::getsockopt(
                    src.cap.as_raw_fd(),
                    libc::SOL_PACKET,
                    PACKET_VERSION,
                    std::ptr::from_mut(&mut version).cast(),
                    &mut len,
                )
            };
            assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
            assert_eq!(version, TPACKET_V3, "immediate = {immediate}");
        }
    }

    /// Immediate delivery arrives well within the idle poll timeout: a
    /// frame sent on a quiet loopback is read in tens of milliseconds, not
    /// at the 100 ms block timeout or later. Needs CAP_NET_RAW.
    #[test]
    fn immediate_delivery_is_prompt() {
        let opts = LiveOptions {
            interface: "lo".into(),
            bpf: Some("udp port 9 and dst host 127.0.0.1".into()),
            timeout_ms: 1_000,
            duration: Some(Duration::from_secs(3)),
            ..LiveOptions::default()
        };
        let mut src = match LiveSource::open(&opts) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipping: {e}");
                return;
            }
        };
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Several tries: the first frame may race the ring's first block.
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let t0 = Instant::now();
            sock.send_to(b"ping", "127.0.0.1:9").unwrap();
            let frame = src.next_frame().unwrap();
            assert!(frame.is_some(), "no frame within the duration");
            best = best.min(t0.elapsed());
        }
        assert!(best < Duration::from_millis(50), "{best:?}");
    }
}

//! Live capture from a network interface through libpcap.
//!
//! Reads use libpcap's read timeout so that a quiet interface never blocks
//! the caller for longer than `timeout_ms`: between packets the source checks
//! its duration and its stop flag. On Linux, libpcap's TPACKET_V3 ring (used
//! when immediate mode is off) may not wake a blocked read when traffic stops,
//! so the handle is put in non-blocking mode and waits in `poll(2)` with the
//! timeout itself.
//!
//! Timestamps are libpcap's default microsecond time stamps (the pcap crate
//! does not report whether a nanosecond request was granted).

use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcap::{Active, Capture};

use crate::capture::{CaptureError, Frame, LinkType, PacketSource, SourceStats, Timestamp};

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
    /// Deliver packets as they arrive rather than in batches.
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
        let mut inactive = Capture::from_device(opts.interface.as_str())
            .map_err(err)?
            .snaplen(opts.snaplen)
            .promisc(opts.promisc)
            .immediate_mode(opts.immediate)
            .timeout(timeout_ms);
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
}

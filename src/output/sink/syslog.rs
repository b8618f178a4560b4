//! Syslog, RFC 5424 messages over UDP (RFC 5426), TCP with octet counting
//! (RFC 6587 §3.4.1) or a local Unix datagram socket (`/dev/log`: rsyslog's
//! imuxsock, journald's syslog socket).
//!
//! Each event is one message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID
//! MSGID - MSG` (RFC 5424 §6), MSGID the event type, no structured data,
//! MSG the JSON object (UTF-8 without BOM, i.e. MSG-ANY, §6.4, which rsyslog
//! and syslog-ng read as JSON). Severity (§6.2.1): `alert` events 4
//! (warning), `anomaly` 5 (notice), the rest 6 (informational).
//!
//! Connections are made lazily and remade after an error, at most once per
//! `RECONNECT_BACKOFF`; messages that cannot be sent are counted `failed`
//! (syslog has no spool: use the HTTP sink for guaranteed delivery).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixDatagram};
use tokio::sync::mpsc;

use super::config::{SinkConfig, SyslogTransport};
use super::{event_type_of, SinkCx};
use crate::capture::Timestamp;
use crate::output::time::format_rfc3339;

/// RFC 5424 §6.2.1 facility local0.
pub const DEFAULT_FACILITY: u8 = 16;
/// RFC 5424 §6.2.1 severities used.
pub mod severity {
    pub const WARNING: u8 = 4;
    pub const NOTICE: u8 = 5;
    pub const INFORMATIONAL: u8 = 6;
}
/// RFC 5424 §6: VERSION.
const VERSION: u8 = 1;
/// RFC 5424 §6.2.7: MSGID is at most 32 characters.
const MSGID_MAX: usize = 32;
/// RFC 5424 §6.2.6: PROCID at most 128; ours is a decimal pid.
const NILVALUE: &str = "-";
/// Default largest message: a UDP datagram's payload over IPv4 is at most
/// 65507 bytes (RFC 768 with a 20-byte IP header); keep margin.
const DEFAULT_MAX_DATAGRAM: usize = 65_000;
const DEFAULT_MAX_STREAM: usize = 1024 * 1024;
const RECONNECT_BACKOFF: Duration = Duration::from_millis(500);

enum Conn {
    None,
    Udp(UdpSocket),
    Tcp(TcpStream),
    Unix(UnixDatagram),
}

/// A syslog destination.
pub struct SyslogSink {
    transport: SyslogTransport,
    address: String,
    facility: u8,
    app_name: String,
    hostname: String,
    procid: String,
    max: usize,
    conn: Conn,
    next_connect: Instant,
}

impl SyslogSink {
    /// From a validated config.
    pub fn new(cfg: &SinkConfig) -> std::io::Result<SyslogSink> {
        let transport = cfg.transport.unwrap_or_default();
        let address = cfg.address.clone().unwrap_or_default();
        Ok(SyslogSink {
            transport,
            address,
            facility: cfg.facility.unwrap_or(DEFAULT_FACILITY),
            app_name: cfg.app_name.clone().unwrap_or_else(|| "gatewatch".into()),
            hostname: cfg.hostname.clone().unwrap_or_else(local_hostname),
            procid: std::process::id().to_string(),
            max: cfg.max_message_bytes.unwrap_or(match transport {
                SyslogTransport::Tcp => DEFAULT_MAX_STREAM,
                _ => DEFAULT_MAX_DATAGRAM,
            }),
            conn: Conn::None,
            next_connect: Instant::now(),
        })
    }

    /// One RFC 5424 message for `rec` (an event of type `event_type`).
    pub fn frame(&self, event_type: &str, rec: &[u8], now: SystemTime) -> Vec<u8> {
        let sev = match event_type {
            "alert" => severity::WARNING,
            "anomaly" => severity::NOTICE,
            _ => severity::INFORMATIONAL,
        };
        let pri = u16::from(self.facility) * 8 + u16::from(sev);
        let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let ts = format_rfc3339(Timestamp::from_secs_nanos(secs, d.subsec_nanos()));
        let msgid: String = event_type
            .bytes()
            .filter(|b| (33..=126).contains(b))
            .take(MSGID_MAX)
            .map(char::from)
            .collect();
        let msgid = if msgid.is_empty() {
            NILVALUE.into()
        } else {
            msgid
        };
        let mut m = Vec::with_capacity(rec.len() + 128);
        m.extend_from_slice(format!("<{pri}>{VERSION} ").as_bytes());
        m.extend_from_slice(&ts);
        m.extend_from_slice(
            format!(
                " {} {} {} {msgid} {NILVALUE} ",
                self.hostname, self.app_name, self.procid
            )
            .as_bytes(),
        );
        m.extend_from_slice(rec);
        m
    }

    async fn connect(&mut self) -> std::io::Result<()> {
        self.conn = match self.transport {
            SyslogTransport::Udp => {
                let target = tokio::net::lookup_host(&self.address)
                    .await?
                    .next()
                    .ok_or_else(|| std::io::Error::other("address resolves to nothing"))?;
                let bind = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let s = UdpSocket::bind(bind).await?;
                s.connect(target).await?;
                Conn::Udp(s)
            }
            SyslogTransport::Tcp => {
                let s = TcpStream::connect(&self.address).await?;
                s.set_nodelay(true)?;
                Conn::Tcp(s)
            }
            SyslogTransport::Unix => {
                let s = UnixDatagram::unbound()?;
                s.connect(&self.address)?;
                Conn::Unix(s)
            }
        };
        Ok(())
    }

    /// Send one framed message, connecting first if needed.
    pub async fn send(&mut self, msg: &[u8]) -> std::io::Result<()> {
        if msg.len() > self.max {
            return Err(std::io::Error::other(format!(
                "message of {} bytes exceeds max_message_bytes {}",
                msg.len(),
                self.max
            )));
        }
        if matches!(self.conn, Conn::None) {
            if Instant::now() < self.next_connect {
                return Err(std::io::Error::other("not connected (backing off)"));
            }
            self.next_connect = Instant::now() + RECONNECT_BACKOFF;
            self.connect().await?;
        }
        let r = match &mut self.conn {
            Conn::None => Err(std::io::Error::other("not connected")),
            Conn::Udp(s) => s.send(msg).await.map(drop),
            Conn::Unix(s) => s.send(msg).await.map(drop),
            Conn::Tcp(s) => {
                // RFC 6587 §3.4.1: MSG-LEN SP SYSLOG-MSG.
                let head = format!("{} ", msg.len());
                match s.write_all(head.as_bytes()).await {
                    Ok(()) => s.write_all(msg).await,
                    Err(e) => Err(e),
                }
            }
        };
        if r.is_err() {
            self.conn = Conn::None;
        }
        r
    }

    async fn flush(&mut self) {
        if let Conn::Tcp(s) = &mut self.conn {
            let _ = s.flush().await;
        }
    }
}

/// The machine's name (RFC 5424 §6.2.4 prefers the FQDN; the kernel's
/// hostname is what journald and rsyslog use), `-` if unknown.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| (33..=126).contains(&b)))
        .unwrap_or_else(|| NILVALUE.into())
}

/// The syslog sink's task.
pub async fn run(mut sink: SyslogSink, cx: SinkCx, mut rx: mpsc::Receiver<Vec<u8>>) {
    let c = &cx.counters;
    loop {
        tokio::select! {
            _ = cx.reopen.notified() => sink.conn = Conn::None,
            m = rx.recv() => {
                let Some(line) = m else { break };
                let Some(rec) = cx.render(&line) else { continue };
                let msg = sink.frame(event_type_of(&line), &rec, SystemTime::now());
                match sink.send(&msg).await {
                    Ok(()) => { c.sent.fetch_add(1, Ordering::Relaxed); }
                    Err(e) => {
                        c.failed.fetch_add(1, Ordering::Relaxed);
                        c.error(format_args!("syslog {}: {e}", sink.address));
                    }
                }
            }
        }
    }
    sink.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_follows_rfc5424_syntax() {
        let cfg: SinkConfig = toml::from_str(
            "type = \"syslog\"\naddress = \"127.0.0.1:514\"\nhostname = \"gw1\"\nfacility = 4",
        )
        .expect("cfg");
        let s = SyslogSink::new(&cfg).expect("sink");
        let t = UNIX_EPOCH + Duration::new(1_692_825_648, 335_892_000);
        let m = s.frame("alert", br#"{"event_type":"alert"}"#, t);
        let pid = std::process::id();
        // facility 4 (auth) * 8 + severity 4 (warning) = 36 (RFC 5424 §6.2.1).
        assert_eq!(
            String::from_utf8(m).expect("utf8"),
            format!("<36>1 2023-08-23T21:20:48.335892Z gw1 gatewatch {pid} alert - {{\"event_type\":\"alert\"}}")
        );
    }
}

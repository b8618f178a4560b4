//! The systemd notification protocol (sd_notify(3)): datagrams of
//! `KEY=VALUE` lines sent to the Unix socket named by `$NOTIFY_SOCKET`.
//!
//! A path starting with `@` names a socket in the abstract namespace
//! (sd_notify(3), "NOTIFY_SOCKET"). Without `$NOTIFY_SOCKET` (not started by
//! systemd, or not `Type=notify`) every call does nothing. Sending never
//! blocks the service for long and its failure is not fatal: systemd only
//! loses a status line.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// A connection to the service manager, or nothing.
pub struct Notifier {
    socket: Option<(UnixDatagram, String)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; inert when it is unset or unusable.
    pub fn from_env() -> Notifier {
        let path = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|p| !p.is_empty());
        let socket = path.and_then(|p| UnixDatagram::unbound().ok().map(|s| (s, p)));
        if let Some((s, _)) = &socket {
            let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
        }
        Notifier { socket }
    }

    /// Is a service manager listening?
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Send one message of `KEY=VALUE` lines.
    pub fn send(&self, message: &str) -> std::io::Result<()> {
        let Some((socket, path)) = &self.socket else {
            return Ok(());
        };
        send_to(socket, path, message.as_bytes())
    }

    pub fn ready(&self, status: &str) {
        let _ = self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// Reload started (systemd 253+ `Type=notify-reload` wants the
    /// monotonic time with it; older ones ignore it).
    pub fn reloading(&self) {
        let _ = self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    pub fn stopping(&self) {
        let _ = self.send("STOPPING=1\nSTATUS=stopping: flushing flows and outputs");
    }

    pub fn status(&self, status: &str) {
        let _ = self.send(&format!("STATUS={status}"));
    }

    pub fn watchdog(&self) {
        let _ = self.send("WATCHDOG=1");
    }
}

/// Half the watchdog interval systemd asked for (`$WATCHDOG_USEC`, meant for
/// this process when `$WATCHDOG_PID` is unset or ours), as sd_watchdog_enabled(3)
/// recommends.
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(target_os = "linux")]
fn send_to(socket: &UnixDatagram, path: &str, msg: &[u8]) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(path)?,
    };
    socket.send_to_addr(msg, &addr).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn send_to(socket: &UnixDatagram, path: &str, msg: &[u8]) -> std::io::Result<()> {
    socket.send_to(msg, path).map(|_| ())
}

/// CLOCK_MONOTONIC in microseconds (what `MONOTONIC_USEC` means): std's
/// `Instant` does not expose its value, so `clock_gettime` through libc when
/// the `live` feature brings it.
#[cfg(feature = "live")]
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: one valid timespec to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0) / 1_000)
}

#[cfg(not(feature = "live"))]
fn monotonic_usec() -> u64 {
    // Without libc: the first field of /proc/uptime is CLOCK_BOOTTIME, close
    // to CLOCK_MONOTONIC on a machine that never suspends (a gateway).
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0, |secs| (secs * 1e6) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages arrive as single datagrams on a socket we bind ourselves,
    /// both by path and in the abstract namespace.
    #[test]
    fn sends_datagrams_to_path_and_abstract_sockets() {
        let dir = std::env::temp_dir().join(format!("gw-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            socket: Some((
                UnixDatagram::unbound().unwrap(),
                path.to_string_lossy().into_owned(),
            )),
        };
        n.ready("capturing on eth0");
        n.reloading();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=capturing on eth0");
        let len = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        let usec: u64 = text
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(usec > 0);
        let _ = std::fs::remove_dir_all(&dir);

        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("gw-notify-test-{}", std::process::id());
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let server = UnixDatagram::bind_addr(&addr).unwrap();
            let n = Notifier {
                socket: Some((UnixDatagram::unbound().unwrap(), format!("@{name}"))),
            };
            n.stopping();
            let len = server.recv(&mut buf).unwrap();
            assert!(buf[..len].starts_with(b"STOPPING=1\n"));
        }
        // Without a socket nothing happens and nothing fails.
        assert!(Notifier { socket: None }.send("READY=1").is_ok());
    }
}

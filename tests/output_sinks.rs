//! Output sinks against real receivers started by the test, on loopback:
//! files (rotation, reopen after a logrotate-style rename), syslog over UDP,
//! TCP and a Unix socket (frames parsed per RFC 5424 / RFC 6587), an
//! HTTP/1.1 server (Splunk HEC and Elasticsearch bulk bodies), the outage
//! test (receiver stopped and restarted: every alert exactly once, in
//! order) and a full spool that counts what it drops.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gatewatch::output::sink::{OutputsConfig, Router, SinkStats};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gw-sinks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmpdir");
    d
}

fn config(toml_text: &str) -> OutputsConfig {
    toml::from_str(toml_text).expect("config parses")
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A native event line of `event_type` carrying sequence number `seq`.
fn event(event_type: &str, seq: usize) -> String {
    format!(
        "{{\"timestamp\":\"2024-05-01T10:00:{:02}.000001Z\",\"flow_id\":{seq},\"event_type\":\"{event_type}\",\"src_ip\":\"10.0.0.5\",\"src_port\":50000,\"dest_ip\":\"203.0.113.9\",\"dest_port\":3389,\"proto\":\"TCP\",\"community_id\":\"1:abc\",\"direction\":\"outbound\",\"app_proto\":\"rdp\",\"rdp\":{{\"cookie\":\"alice\"}},\"alert\":{{\"rule\":\"anonymizer_exit\",\"severity\":\"high\",\"score\":50,\"reason\":\"seq {seq}\",\"evidence\":[],\"count\":1,\"findings\":[]}}}}\n",
        seq % 60
    )
}

fn stats_of<'a>(stats: &'a [SinkStats], name: &str) -> &'a SinkStats {
    stats.iter().find(|s| s.name == name).expect("sink stats")
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn seq_of(v: &serde_json::Value) -> u64 {
    v["flow_id"].as_u64().expect("flow_id")
}

// ------------------------------------------------------------- files ----

#[test]
fn file_sink_rotates_by_size_and_filters_types() {
    let d = tmpdir("rotate");
    let path = d.join("eve.json");
    let cfg = config(&format!(
        "[[sinks]]\nname = \"alerts\"\ntype = \"file\"\nevent_types = [\"alert\"]\npath = {:?}\nrotate_bytes = 2000\nrotate_keep = 50\n",
        path.display().to_string()
    ));
    let router = Router::new(&cfg).expect("router");
    let line_len = event("alert", 0).len();
    for i in 0..100 {
        router.send(event("alert", i).as_bytes());
        router.send(event("flow", 1000 + i).as_bytes()); // filtered out
    }
    let report = router.shutdown(Duration::from_secs(5));
    let s = stats_of(&report.sinks, "alerts");
    assert_eq!(s.sent, 100);
    assert!(report.timed_out.is_empty());
    // Oldest first: eve.json.N .. eve.json.1, then eve.json.
    let mut files: Vec<PathBuf> = (1..=50)
        .rev()
        .map(|n| d.join(format!("eve.json.{n}")))
        .filter(|p| p.exists())
        .collect();
    files.push(path.clone());
    let per_file = 2000 / line_len;
    assert_eq!(files.len(), 100_usize.div_ceil(per_file), "files {files:?}");
    assert_eq!(s.rotations as usize, files.len() - 1);
    let mut seqs = Vec::new();
    for f in &files {
        let len = std::fs::metadata(f).expect("meta").len();
        assert!(len <= 2000, "{} is {len} bytes", f.display());
        for l in read_lines(f) {
            seqs.push(seq_of(&serde_json::from_str(&l).expect("json line")));
        }
    }
    assert_eq!(seqs, (0..100).collect::<Vec<u64>>());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn file_sink_reopens_after_logrotate_rename() {
    let d = tmpdir("reopen");
    let path = d.join("eve.json");
    let moved = d.join("eve.json-20240501");
    let cfg = config(&format!(
        "[[sinks]]\ntype = \"file\"\npath = {:?}\n",
        path.display().to_string()
    ));
    let router = Router::new(&cfg).expect("router");
    for i in 0..10 {
        router.send(event("flow", i).as_bytes());
    }
    assert!(wait_until(Duration::from_secs(5), || read_lines(&path)
        .len()
        == 10));
    // logrotate without copytruncate: rename, then HUP (postrotate).
    std::fs::rename(&path, &moved).expect("rename");
    router.reopen();
    for i in 10..15 {
        router.send(event("flow", i).as_bytes());
    }
    router.shutdown(Duration::from_secs(5));
    let old: Vec<u64> = read_lines(&moved)
        .iter()
        .map(|l| seq_of(&serde_json::from_str(l).expect("json")))
        .collect();
    let new: Vec<u64> = read_lines(&path)
        .iter()
        .map(|l| seq_of(&serde_json::from_str(l).expect("json")))
        .collect();
    assert_eq!(old, (0..10).collect::<Vec<_>>());
    assert_eq!(new, (10..15).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&d);
}

// ------------------------------------------------------------ syslog ----

/// One RFC 5424 message split into its header fields and MSG.
#[derive(Debug)]
struct Syslog5424 {
    pri: u16,
    version: String,
    timestamp: String,
    hostname: String,
    app: String,
    msgid: String,
    sd: String,
    msg: serde_json::Value,
}

/// RFC 5424 §6: `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP
/// PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]`.
fn parse_5424(frame: &[u8]) -> Syslog5424 {
    let text = std::str::from_utf8(frame).expect("utf8");
    let rest = text.strip_prefix('<').expect("<PRI>");
    let (pri, rest) = rest.split_once('>').expect("PRI>");
    let parts: Vec<&str> = rest.splitn(8, ' ').collect();
    assert_eq!(parts.len(), 8, "{text}");
    Syslog5424 {
        pri: pri.parse().expect("PRI digits"),
        version: parts[0].into(),
        timestamp: parts[1].into(),
        hostname: parts[2].into(),
        app: parts[3].into(),
        msgid: parts[5].into(),
        sd: parts[6].into(),
        msg: serde_json::from_str(parts[7]).expect("MSG is JSON"),
    }
}

fn check_syslog(msgs: &[Syslog5424], n: usize) {
    assert_eq!(msgs.len(), n);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.version, "1");
        assert_eq!(m.hostname, "gw-test");
        assert_eq!(m.app, "gatewatch");
        assert_eq!(m.sd, "-");
        assert_eq!(m.timestamp.len(), 27, "{}", m.timestamp);
        assert!(m.timestamp.ends_with('Z'));
        // local0 (16) * 8 + warning (4) for alerts, informational (6) else.
        let (pri, msgid) = if i % 2 == 0 {
            (132, "alert")
        } else {
            (134, "flow")
        };
        assert_eq!((m.pri, m.msgid.as_str()), (pri, msgid));
        assert_eq!(seq_of(&m.msg), i as u64);
    }
}

fn syslog_cfg(transport: &str, address: &str) -> OutputsConfig {
    config(&format!(
        "[[sinks]]\nname = \"s\"\ntype = \"syslog\"\ntransport = \"{transport}\"\naddress = {address:?}\nhostname = \"gw-test\"\n"
    ))
}

fn send_mixed(router: &Router, n: usize) {
    for i in 0..n {
        let et = if i % 2 == 0 { "alert" } else { "flow" };
        router.send(event(et, i).as_bytes());
    }
}

#[test]
fn syslog_udp_rfc5424() {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let addr = sock.local_addr().expect("addr").to_string();
    let router = Router::new(&syslog_cfg("udp", &addr)).expect("router");
    let n = 20;
    let mut msgs = Vec::new();
    let mut buf = vec![0u8; 65536];
    for i in 0..n {
        // One at a time: loopback UDP does not lose, but does not queue forever either.
        let et = if i % 2 == 0 { "alert" } else { "flow" };
        router.send(event(et, i).as_bytes());
        let len = sock.recv(&mut buf).expect("datagram");
        msgs.push(parse_5424(&buf[..len]));
    }
    check_syslog(&msgs, n);
    let r = router.shutdown(Duration::from_secs(2));
    assert_eq!(stats_of(&r.sinks, "s").sent, n as u64);
}

#[test]
fn syslog_tcp_octet_counting() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let router = Router::new(&syslog_cfg("tcp", &addr)).expect("router");
    let n = 50;
    send_mixed(&router, n);
    let (conn, _) = l.accept().expect("accept");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut r = BufReader::new(conn);
    let mut msgs = Vec::new();
    while msgs.len() < n {
        // RFC 6587 §3.4.1: MSG-LEN (NONZERO-DIGIT *DIGIT) SP SYSLOG-MSG.
        let mut len = Vec::new();
        r.read_until(b' ', &mut len).expect("length");
        let len: usize = std::str::from_utf8(&len[..len.len() - 1])
            .expect("digits")
            .parse()
            .expect("MSG-LEN");
        let mut frame = vec![0; len];
        r.read_exact(&mut frame).expect("frame");
        msgs.push(parse_5424(&frame));
    }
    check_syslog(&msgs, n);
    let rep = router.shutdown(Duration::from_secs(2));
    assert_eq!(stats_of(&rep.sinks, "s").sent, n as u64);
}

#[test]
fn syslog_unix_datagram() {
    let d = tmpdir("unix");
    let path = d.join("log.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let router = Router::new(&syslog_cfg("unix", &path.display().to_string())).expect("router");
    let n = 10;
    send_mixed(&router, n);
    let mut buf = vec![0u8; 65536];
    let msgs: Vec<_> = (0..n)
        .map(|_| {
            let len = sock.recv(&mut buf).expect("datagram");
            parse_5424(&buf[..len])
        })
        .collect();
    check_syslog(&msgs, n);
    router.shutdown(Duration::from_secs(2));
    let _ = std::fs::remove_dir_all(&d);
}

// -------------------------------------------------------------- HTTP ----

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A small HTTP/1.1 server: request line, headers, a Content-Length or
/// chunked body (RFC 9112 §6), keep-alive; answers 200 with `reply`.
struct HttpReceiver {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpReceiver {
    fn start(addr: &str, reply: &'static str, requests: Arc<Mutex<Vec<Request>>>) -> HttpReceiver {
        let l = TcpListener::bind(addr).expect("bind http");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let (st, reqs) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let (st, reqs) = (st.clone(), reqs.clone());
                        conns.push(std::thread::spawn(move || serve(c, reply, &st, &reqs)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            drop(l);
            for c in conns {
                let _ = c.join();
            }
        });
        HttpReceiver {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(c: TcpStream, reply: &str, stop: &AtomicBool, reqs: &Mutex<Vec<Request>>) {
    let _ = c.set_nonblocking(false);
    let _ = c.set_read_timeout(Some(Duration::from_millis(50)));
    let mut w = match c.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(c);
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        let _ = r.get_ref().set_read_timeout(Some(Duration::from_secs(5)));
        let mut parts = line.trim_end().splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        assert_eq!(parts.next(), Some("HTTP/1.1"), "request line {line:?}");
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("header colon");
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let mut body = Vec::new();
        if let Some(len) = headers.get("content-length") {
            body.resize(len.parse().expect("content-length"), 0);
            if r.read_exact(&mut body).is_err() {
                return;
            }
        } else if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            loop {
                let mut size = String::new();
                if r.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
                let mut chunk = vec![0; n + 2];
                if r.read_exact(&mut chunk).is_err() {
                    return;
                }
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        reqs.lock().expect("lock").push(Request {
            method,
            path,
            headers,
            body,
        });
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
        let _ = r
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(50)));
    }
}

fn bodies_lines(reqs: &Mutex<Vec<Request>>) -> Vec<serde_json::Value> {
    reqs.lock()
        .expect("lock")
        .iter()
        .flat_map(|r| {
            String::from_utf8(r.body.clone())
                .expect("utf8")
                .lines()
                .map(|l| serde_json::from_str(l).expect("ndjson line"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn http_splunk_hec_with_ocsf_and_pseudonyms() {
    let reqs = Arc::new(Mutex::new(Vec::new()));
    let srv = HttpReceiver::start(
        "127.0.0.1:0",
        r#"{"text":"Success","code":0}"#,
        reqs.clone(),
    );
    let cfg = config(&format!(
        r#"
        [privacy]
        key = "site-key-0123456789"
        [[sinks]]
        name = "hec"
        type = "http"
        body = "splunk_hec"
        format = "ocsf"
        privacy = true
        url = "http://{}/services/collector/event"
        token = "11111111-2222-3333-4444-555555555555"
        batch_events = 7
        batch_millis = 50
        "#,
        srv.addr
    ));
    let router = Router::new(&cfg).expect("router");
    for i in 0..30 {
        router.send(event("alert", i).as_bytes());
    }
    let report = router.shutdown(Duration::from_secs(5));
    let s = stats_of(&report.sinks, "hec");
    assert_eq!((s.sent, s.failed, s.dropped), (30, 0, 0), "{s:?}");
    {
        let rs = reqs.lock().expect("lock");
        assert!(
            rs.len() >= 5,
            "7 per batch: at least 5 POSTs, got {}",
            rs.len()
        );
        for r in rs.iter() {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/services/collector/event");
            assert_eq!(
                r.headers.get("authorization").map(String::as_str),
                Some("Splunk 11111111-2222-3333-4444-555555555555")
            );
        }
    }
    let lines = bodies_lines(&reqs);
    assert_eq!(lines.len(), 30);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["sourcetype"], "gatewatch:alert");
        assert!(l["time"].as_f64().is_some_and(|t| t > 1.7e9));
        let ev = &l["event"];
        assert_eq!(ev["class_uid"], 2004);
        assert_eq!(ev["finding_info"]["title"], "anonymizer_exit");
        assert_eq!(ev["finding_info"]["desc"], format!("seq {i}"));
        assert_eq!(ev["severity_id"], 4);
        // The RDP cookie user is pseudonymised: user: + 16 hex digits.
        let user = ev["actor"]["user"]["name"].as_str().expect("user");
        assert!(user.starts_with("user:") && user.len() == 21, "{user}");
        assert_ne!(ev["unmapped"]["rdp"]["cookie"], "alice");
    }
    srv.stop();
}

#[test]
fn http_elastic_bulk_with_ecs() {
    let reqs = Arc::new(Mutex::new(Vec::new()));
    let srv = HttpReceiver::start(
        "127.0.0.1:0",
        r#"{"took":1,"errors":false,"items":[]}"#,
        reqs.clone(),
    );
    let cfg = config(&format!(
        "[[sinks]]\nname = \"es\"\ntype = \"http\"\nbody = \"elastic_bulk\"\nformat = \"ecs\"\nindex = \"gw-events\"\nurl = \"http://{}/_bulk\"\nauthorization = \"ApiKey abc\"\nbatch_events = 10\n",
        srv.addr
    ));
    let router = Router::new(&cfg).expect("router");
    for i in 0..25 {
        router.send(event("flow", i).as_bytes());
    }
    let report = router.shutdown(Duration::from_secs(5));
    assert_eq!(stats_of(&report.sinks, "es").sent, 25);
    for r in reqs.lock().expect("lock").iter() {
        assert_eq!(r.path, "/_bulk");
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-ndjson")
        );
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("ApiKey abc")
        );
        assert!(r.body.ends_with(b"\n"), "bulk bodies end with a newline");
    }
    let lines = bodies_lines(&reqs);
    assert_eq!(lines.len(), 50, "action + source per event");
    for (i, pair) in lines.chunks(2).enumerate() {
        assert_eq!(
            pair[0],
            serde_json::json!({"create": {"_index": "gw-events"}})
        );
        let doc = &pair[1];
        assert_eq!(doc["event"]["kind"], "event");
        assert_eq!(doc["source"]["ip"], "10.0.0.5");
        assert_eq!(doc["destination"]["port"], 3389);
        assert_eq!(doc["network"]["transport"], "tcp");
        assert_eq!(doc["user"]["name"], "alice");
        assert_eq!(doc["gatewatch"]["flow_id"], i as u64);
    }
    srv.stop();
}

// ------------------------------------------------------------ outage ----

#[test]
fn outage_every_alert_arrives_exactly_once_in_order() {
    let d = tmpdir("outage");
    let reqs = Arc::new(Mutex::new(Vec::new()));
    let srv = HttpReceiver::start(
        "127.0.0.1:0",
        r#"{"errors":false,"items":[]}"#,
        reqs.clone(),
    );
    let addr = srv.addr;
    let cfg = config(&format!(
        r#"
        [[sinks]]
        name = "siem"
        type = "http"
        event_types = ["alert"]
        url = "http://{addr}/ingest"
        batch_events = 5
        batch_millis = 30
        retries = 2
        backoff_millis = 50
        backoff_max_millis = 200
        memory_batches = 2
        spool_dir = {:?}
        spool_max_bytes = 10000000
        spool_max_age_secs = 3600
        "#,
        d.join("spool").display().to_string()
    ));
    let router = Router::new(&cfg).expect("router");
    let total = 300;
    let received = |reqs: &Mutex<Vec<Request>>| bodies_lines(reqs).len();

    // Phase 1: receiver up.
    for i in 0..100 {
        router.send(event("alert", i).as_bytes());
        router.send(event("flow", 10_000 + i).as_bytes()); // not for this sink
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(wait_until(Duration::from_secs(10), || received(&reqs) == 100));
    let up = stats_of(&router.stats(), "siem").clone();

    // Phase 2: receiver down; keep alerting.
    srv.stop();
    for i in 100..250 {
        router.send(event("alert", i).as_bytes());
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(wait_until(Duration::from_secs(5), || {
        stats_of(&router.stats(), "siem").spool_events > 0
    }));
    let down = stats_of(&router.stats(), "siem").clone();
    assert!(down.spooled > 0 && down.retried > 0, "{down:?}");

    // Phase 3: receiver back on the same port; more alerts arrive meanwhile.
    let srv = HttpReceiver::start(
        &addr.to_string(),
        r#"{"errors":false,"items":[]}"#,
        reqs.clone(),
    );
    for i in 250..total {
        router.send(event("alert", i).as_bytes());
    }
    assert!(
        wait_until(Duration::from_secs(30), || received(&reqs) >= total),
        "only {} of {total} arrived: {:?}",
        received(&reqs),
        router.stats()
    );
    let report = router.shutdown(Duration::from_secs(5));
    srv.stop();
    let s = stats_of(&report.sinks, "siem");
    println!(
        "outage: alerts {total}; up: sent {}; down: spooled {} retried {}; after: sent {} spooled {} replayed {} dropped {} failed {} spool left {} bytes",
        up.sent, down.spooled, down.retried, s.sent, s.spooled, s.replayed, s.dropped, s.failed, s.spool_bytes
    );
    let seqs: Vec<u64> = bodies_lines(&reqs).iter().map(seq_of).collect();
    assert_eq!(
        seqs,
        (0..total as u64).collect::<Vec<_>>(),
        "exactly once, in order"
    );
    assert_eq!((s.sent, s.dropped, s.failed), (total as u64, 0, 0));
    assert!(s.replayed > 0 && s.replayed <= s.spooled);
    assert_eq!(s.spool_bytes, 0);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn spool_full_counts_drops() {
    let d = tmpdir("spoolfull");
    // A port nothing listens on: bound, then closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let cfg = config(&format!(
        "[[sinks]]\nname = \"siem\"\ntype = \"http\"\nurl = \"http://{addr}/\"\nbatch_events = 10\nbatch_millis = 20\nretries = 1\nbackoff_millis = 20\nmemory_batches = 1\nspool_dir = {:?}\nspool_max_bytes = 8000\n",
        d.join("spool").display().to_string()
    ));
    let router = Router::new(&cfg).expect("router");
    let n = 200u64;
    for i in 0..n as usize {
        router.send(event("alert", i).as_bytes());
        std::thread::sleep(Duration::from_millis(1));
    }
    let report = router.shutdown(Duration::from_secs(3));
    let s = stats_of(&report.sinks, "siem");
    println!(
        "spool full: alerts {n}; spooled {} dropped {} (spool full {}) spool {} bytes / 8000",
        s.spooled, s.dropped, s.dropped_spool_full, s.spool_bytes
    );
    assert_eq!(s.sent, 0);
    assert!(s.dropped_spool_full > 0);
    assert!(s.spool_bytes <= 8000);
    assert_eq!(
        s.spooled + s.dropped_spool_full,
        n,
        "every alert spooled or counted dropped"
    );
    assert_eq!(s.spool_events, s.spooled);
    // What is on disk is what the stats say.
    let on_disk: u64 = std::fs::read_dir(d.join("spool"))
        .expect("spool dir")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();
    assert_eq!(on_disk, s.spool_bytes);
    let _ = std::fs::remove_dir_all(&d);
}

//! Helpers shared by the integration tests: where the corpus is, running the
//! library in-process, reading the JSON lines it writes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use gatewatch::pipeline::{run_files, PipelineConfig, RunOutcome};

/// The crate root (where Cargo.toml is).
pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/corpus` when present; `None` (with a message) when absent.
pub fn shared_corpus(test: &str) -> Option<PathBuf> {
    let dir = crate_root().join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "{test}: skipping the shared corpus: {} is absent",
            dir.display()
        );
        None
    }
}

/// One capture of `../shared/corpus`, `None` (with a message) when absent.
pub fn corpus_file(test: &str, rel: &str) -> Option<PathBuf> {
    let p = shared_corpus(test)?.join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("{test}: skipping: {} is absent", p.display());
        None
    }
}

/// Every file under `dir` (sorted), except the `expected/` outputs.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "expected") && d == dir {
                    continue;
                }
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Capture files (by extension) under `dir`, compressed ones included.
pub fn captures_under(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            [
                ".pcap",
                ".pcapng",
                ".cap",
                ".pcap.gz",
                ".pcapng.gz",
                ".pcap.zst",
            ]
            .iter()
            .any(|ext| name.ends_with(ext))
        })
        .collect()
}

/// Run the library on `paths`, returning the JSON-lines output.
pub fn run(paths: &[PathBuf], workers: usize) -> (Vec<u8>, std::io::Result<RunOutcome>) {
    let config = PipelineConfig {
        workers,
        ..PipelineConfig::default()
    };
    let mut out: Vec<u8> = Vec::new();
    let result = run_files(paths, &config, &mut out);
    (out, result)
}

/// Parse every output line as JSON; a line that does not parse is an error
/// naming the line.
pub fn parse_lines(out: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    let text = std::str::from_utf8(out).map_err(|e| format!("output is not UTF-8: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}: {l}", i + 1)))
        .collect()
}

pub fn is_event(v: &serde_json::Value, kind: &str) -> bool {
    v.get("event_type").and_then(|t| t.as_str()) == Some(kind)
}

/// A directed 5-tuple plus the outer VLAN id (0 when untagged).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tuple {
    pub proto: String,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub vlan: u16,
}

impl std::fmt::Display for Tuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} -> {} {} vlan {}",
            self.proto, self.src, self.sport, self.dst, self.dport, self.vlan
        )
    }
}

/// Packets and bytes of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pkts: u64,
    pub bytes: u64,
}

fn u64_at(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(x) => cur = x,
            None => return 0,
        }
    }
    cur.as_u64().unwrap_or(0)
}

/// Sum the flow events' counters per directed tuple: src->dest gets the
/// `toserver` counters, dest->src the `toclient` ones. Only TCP and UDP.
/// Returns an error for a flow event that lacks its addresses or ports.
pub fn directed_counts(events: &[serde_json::Value]) -> Result<BTreeMap<Tuple, Counts>, String> {
    let mut map: BTreeMap<Tuple, Counts> = BTreeMap::new();
    for ev in events.iter().filter(|e| is_event(e, "flow")) {
        let proto = ev.get("proto").and_then(|p| p.as_str()).unwrap_or("");
        if proto != "TCP" && proto != "UDP" {
            continue;
        }
        let ip = |k: &str| -> Result<IpAddr, String> {
            ev.get(k)
                .and_then(|x| x.as_str())
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("flow event without a valid {k}: {ev}"))
        };
        let port = |k: &str| -> Result<u16, String> {
            ev.get(k)
                .and_then(|x| x.as_u64())
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("flow event without a valid {k}: {ev}"))
        };
        let vlan = ev
            .get("vlan")
            .and_then(|v| v.as_array())
            .and_then(|a| a.first())
            .and_then(|x| x.as_u64())
            .and_then(|x| u16::try_from(x).ok())
            .unwrap_or(0);
        let fwd = Tuple {
            proto: proto.to_string(),
            src: ip("src_ip")?,
            sport: port("src_port")?,
            dst: ip("dest_ip")?,
            dport: port("dest_port")?,
            vlan,
        };
        let rev = Tuple {
            proto: fwd.proto.clone(),
            src: fwd.dst,
            sport: fwd.dport,
            dst: fwd.src,
            dport: fwd.sport,
            vlan,
        };
        let c = map.entry(fwd).or_default();
        c.pkts += u64_at(ev, &["flow", "pkts_toserver"]);
        c.bytes += u64_at(ev, &["flow", "bytes_toserver"]);
        let c = map.entry(rev).or_default();
        c.pkts += u64_at(ev, &["flow", "pkts_toclient"]);
        c.bytes += u64_at(ev, &["flow", "bytes_toclient"]);
    }
    map.retain(|_, c| c.pkts > 0);
    Ok(map)
}

/// Copy a file's first `len` bytes into `dir/name`.
pub fn write_prefix(src: &Path, len: usize, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let bytes = std::fs::read(src)?;
    let cut = bytes.get(..len).unwrap_or(&bytes);
    let dst = dir.join(name);
    std::fs::write(&dst, cut)?;
    Ok(dst)
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p =
            std::env::temp_dir().join(format!("gatewatch-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

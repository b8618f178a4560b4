//! Every capture of the shared corpus (odd link types, tunnels, fuzz-found
//! crashers of other tools, a gzip'd one) goes through the whole pipeline
//! without a panic and returns; a capture cut mid-record yields an error that
//! names the file, after the flows read before the cut were emitted.

mod common;

use std::path::{Path, PathBuf};

use common::{
    captures_under, crate_root, directed_counts, is_event, parse_lines, run, shared_corpus,
    write_prefix, TempDir,
};

/// Run one capture on its own thread; `Err` describes a panic.
fn run_in_thread(path: &Path, workers: usize) -> Result<(usize, Option<String>), String> {
    let p = path.to_path_buf();
    let handle = std::thread::Builder::new()
        .name(format!("run {}", p.display()))
        .spawn(move || {
            let (out, result) = run(std::slice::from_ref(&p), workers);
            let lines = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
            let error = match result {
                Ok(o) => o.error.map(|e| e.to_string()),
                Err(e) => Some(format!("output error: {e}")),
            };
            (lines, error)
        })
        .map_err(|e| format!("cannot spawn a thread: {e}"))?;
    handle.join().map_err(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("panicked: {msg}")
    })
}

#[test]
fn every_corpus_capture_runs_without_panic() {
    let Some(corpus) = shared_corpus("corpus_hostile") else {
        return;
    };
    let mut captures = captures_under(&corpus);
    captures.extend(captures_under(&crate_root().join("tests/pcap")));
    assert!(
        captures.len() > 100,
        "corpus looks empty: {}",
        captures.len()
    );
    let mut panics = Vec::new();
    let (mut lines, mut errors) = (0usize, 0usize);
    for workers in [1, 2] {
        for path in &captures {
            match run_in_thread(path, workers) {
                Ok((n, err)) => {
                    lines += n;
                    if let Some(e) = err {
                        errors += 1;
                        // An error must say which file it is about.
                        let name = path.file_name().unwrap_or_default().to_string_lossy();
                        if !e.contains(name.as_ref()) {
                            panics.push(format!(
                                "{} (workers {workers}): error does not name the file: {e}",
                                path.display()
                            ));
                        }
                    }
                }
                Err(e) => panics.push(format!("{} (workers {workers}): {e}", path.display())),
            }
        }
    }
    eprintln!(
        "corpus_hostile: {} captures x 2 worker settings, {lines} output lines, \
         {errors} runs ended with an input error",
        captures.len()
    );
    assert!(panics.is_empty(), "{}", panics.join("\n"));
}

#[test]
fn output_does_not_depend_on_worker_count() {
    // The pipeline promises the same event stream for any number of workers
    // (src/pipeline/mod.rs); the final stats line may differ in per-worker
    // table figures, so it is left out.
    let Some(corpus) = shared_corpus("corpus_hostile") else {
        return;
    };
    let mut differ = Vec::new();
    for path in captures_under(&corpus).iter().step_by(7) {
        let (a, _) = run(std::slice::from_ref(path), 1);
        let (b, _) = run(std::slice::from_ref(path), 3);
        let events = |out: &[u8]| -> Vec<Vec<u8>> {
            out.split(|&c| c == b'\n')
                .filter(|l| {
                    const STATS: &[u8] = b"\"event_type\":\"stats\"";
                    let is_stats = l.windows(STATS.len()).any(|w| w == STATS);
                    !l.is_empty() && !is_stats
                })
                .map(|l| l.to_vec())
                .collect()
        };
        if events(&a) != events(&b) {
            differ.push(path.display().to_string());
        }
    }
    assert!(
        differ.is_empty(),
        "output differs between 1 and 3 workers: {differ:?}"
    );
}

/// Byte offsets of the records of a classic pcap file (from the format:
/// 24-byte file header, 16-byte record headers with the captured length at
/// offset 8), and its byte order. `None` for anything else.
fn pcap_records(bytes: &[u8]) -> Option<Vec<(usize, usize)>> {
    let magic = bytes.get(..4)?;
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return None,
    };
    let u32_at = |o: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(o..o + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut off = 24;
    let mut records = Vec::new();
    while off + 16 <= bytes.len() {
        let caplen = u32_at(off + 8)? as usize;
        let end = off + 16 + caplen;
        if end > bytes.len() {
            break;
        }
        records.push((off, end));
        off = end;
    }
    Some(records)
}

/// Is this Ethernet frame IPv4/IPv6 TCP or UDP (unfragmented)? From the
/// header layouts of IEEE 802.3, RFC 791 and RFC 8200.
fn is_plain_tcp_udp(frame: &[u8]) -> bool {
    match frame.get(12..14) {
        Some([0x08, 0x00]) => {
            let flags_frag = frame.get(20..22).map(|b| u16::from_be_bytes([b[0], b[1]]));
            let unfragmented = flags_frag.is_some_and(|f| f & 0x3fff == 0);
            unfragmented && matches!(frame.get(23), Some(6 | 17))
        }
        Some([0x86, 0xdd]) => matches!(frame.get(20), Some(6 | 17)),
        _ => false,
    }
}

/// A real Ethernet pcap of the repository (always present) or the corpus.
fn truncation_subject() -> Option<PathBuf> {
    let own = crate_root().join("tests/pcap/http/input.pcap");
    if own.exists() {
        return Some(own);
    }
    let corpus = shared_corpus("corpus_hostile")?;
    Some(corpus.join("tcpdump/tests/ipv4_tcp_http_xml.pcap")).filter(|p| p.exists())
}

#[test]
fn truncated_capture_reports_file_and_keeps_earlier_flows() {
    let Some(src) = truncation_subject() else {
        eprintln!("truncated capture: no subject capture present, skipping");
        return;
    };
    let bytes = std::fs::read(&src).expect("read subject");
    let records = pcap_records(&bytes).expect("subject is a classic pcap");
    assert!(records.len() >= 8, "{}: too few records", src.display());
    // Cut in the middle of a record about two thirds in: its header and part
    // of its data are there, the rest is not.
    let cut_index = records.len() * 2 / 3;
    let (start, end) = records[cut_index];
    let cut = start + 16 + (end - start - 16) / 2;
    let complete: Vec<&[u8]> = records[..cut_index]
        .iter()
        .map(|&(s, e)| &bytes[s + 16..e])
        .collect();
    let want_pkts = complete.iter().filter(|f| is_plain_tcp_udp(f)).count() as u64;
    assert!(want_pkts > 0);

    let dir = TempDir::new("truncated");
    let name = "cut-mid-record.pcap";
    let path = write_prefix(&src, cut, dir.path(), name).expect("write truncated copy");
    for workers in [1, 2] {
        let (out, result) = run(std::slice::from_ref(&path), workers);
        let outcome = result.expect("output to a Vec cannot fail");
        let err = outcome
            .error
            .unwrap_or_else(|| panic!("workers {workers}: a file cut mid-record must be an error"));
        let msg = err.to_string();
        assert!(msg.contains(name), "error does not name the file: {msg}");
        let events = parse_lines(&out).expect("valid JSON lines");
        assert!(
            events.last().is_some_and(|e| is_event(e, "stats")),
            "the last line must be the stats event"
        );
        let got: u64 = directed_counts(&events)
            .expect("flow events")
            .values()
            .map(|c| c.pkts)
            .sum();
        assert_eq!(
            got, want_pkts,
            "workers {workers}: the TCP/UDP packets of the {cut_index} complete records before the cut"
        );
    }
}

//! Flow counters against tshark.
//!
//! For every expectation file in `tests/conformance/expected/` (written by
//! `scripts/make-flow-expectations.sh` from tshark 4.0 output) whose capture
//! is present, the library runs in-process on the capture and its flow events
//! are summed per directed 5-tuple (plus outer VLAN): a flow's `src -> dest`
//! gets `pkts_toserver`/`bytes_toserver`, `dest -> src` gets the `toclient`
//! counters, and flows sharing a tuple (the same 5-tuple reused over time)
//! add up. Every tuple tshark counted must agree in packets and bytes
//! (bytes are wire lengths, tshark's `frame.len`), and gatewatch must not
//! report a TCP/UDP tuple tshark did not see. Tuples that had frames tshark
//! could not attribute cleanly (the file's `skip` lines: tunnels, fragments,
//! ICMP errors) are ignored on both sides. Known, explained differences are
//! listed in `tests/conformance/known-differences.md`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use common::{crate_root, directed_counts, parse_lines, run, Counts, Tuple};

/// One `skip` pattern: `None` fields match anything.
#[derive(Debug)]
struct SkipPattern {
    proto: Option<String>,
    src: IpAddr,
    sport: Option<u16>,
    dst: IpAddr,
    dport: Option<u16>,
    vlan: u16,
}

impl SkipPattern {
    fn matches(&self, t: &Tuple) -> bool {
        self.src == t.src
            && self.dst == t.dst
            && self.vlan == t.vlan
            && self.proto.as_deref().is_none_or(|p| p == t.proto)
            && self.sport.is_none_or(|p| p == t.sport)
            && self.dport.is_none_or(|p| p == t.dport)
    }
}

struct Expectation {
    file: PathBuf,
    /// The capture, as written in the file (`corpus/...` or `tests/pcap/...`).
    source: String,
    flows: BTreeMap<Tuple, Counts>,
    skips: Vec<SkipPattern>,
}

fn wild<T: std::str::FromStr>(s: &str) -> Result<Option<T>, String> {
    if s == "*" {
        Ok(None)
    } else {
        s.parse().map(Some).map_err(|_| format!("bad value {s:?}"))
    }
}

fn parse_expectation(file: &Path) -> Result<Expectation, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut source = None;
    let mut flows = BTreeMap::new();
    let mut skips = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("{}:{}: {e}", file.display(), n + 1);
        if let Some(s) = line.strip_prefix("# source: ") {
            source = Some(s.trim().to_string());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [kind, proto, src, sport, dst, dport, vlan, a, b] = cols[..] else {
            return Err(at(format!("expected 9 columns: {line:?}")));
        };
        let src: IpAddr = src.parse().map_err(|_| at(format!("bad address {src}")))?;
        let dst: IpAddr = dst.parse().map_err(|_| at(format!("bad address {dst}")))?;
        let vlan: u16 = vlan.parse().map_err(|_| at(format!("bad vlan {vlan}")))?;
        match kind {
            "flow" => {
                let t = Tuple {
                    proto: proto.to_string(),
                    src,
                    sport: sport.parse().map_err(|_| at(format!("bad port {sport}")))?,
                    dst,
                    dport: dport.parse().map_err(|_| at(format!("bad port {dport}")))?,
                    vlan,
                };
                let c = Counts {
                    pkts: a.parse().map_err(|_| at(format!("bad count {a}")))?,
                    bytes: b.parse().map_err(|_| at(format!("bad count {b}")))?,
                };
                flows.insert(t, c);
            }
            "skip" => skips.push(SkipPattern {
                proto: wild(proto).map_err(at)?,
                src,
                sport: wild(sport).map_err(at)?,
                dst,
                dport: wild(dport).map_err(at)?,
                vlan,
            }),
            other => return Err(at(format!("unknown line kind {other:?}"))),
        }
    }
    let source = source.ok_or_else(|| format!("{}: no `# source:` line", file.display()))?;
    Ok(Expectation {
        file: file.to_path_buf(),
        source,
        flows,
        skips,
    })
}

/// An allowed difference: a capture, and a tuple or `*` for all of it.
struct Allowed {
    source: String,
    tuple: Option<String>,
}

/// Parse `known-differences.md`: list items of the form
/// ``- `SOURCE` `TUPLE`: reason`` where TUPLE is `*` or as printed by
/// [`Tuple`]'s Display (`TCP 10.0.0.1 1234 -> 10.0.0.2 80 vlan 0`). A list
/// item without a reason is refused: every entry must say why.
fn parse_allowed(file: &Path) -> Result<Vec<Allowed>, String> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(item) = line.trim_start().strip_prefix("- `") else {
            continue;
        };
        let parts: Vec<&str> = item.split('`').collect();
        // parts: [source, " ", tuple, ": reason"]
        let (Some(source), Some(tuple), Some(reason)) = (parts.first(), parts.get(2), parts.get(3))
        else {
            return Err(format!("{}:{}: malformed entry", file.display(), n + 1));
        };
        if reason.trim_start_matches(':').trim().is_empty() {
            return Err(format!(
                "{}:{}: entry without a reason",
                file.display(),
                n + 1
            ));
        }
        out.push(Allowed {
            source: source.to_string(),
            tuple: (*tuple != "*").then(|| tuple.to_string()),
        });
    }
    Ok(out)
}

fn is_allowed(allowed: &[Allowed], source: &str, t: &Tuple) -> bool {
    let printed = t.to_string();
    allowed
        .iter()
        .any(|a| a.source == source && a.tuple.as_deref().is_none_or(|x| x == printed))
}

/// Where the capture named in an expectation file is.
fn capture_path(source: &str) -> PathBuf {
    if source.starts_with("corpus/") {
        crate_root().join("../shared").join(source)
    } else {
        crate_root().join(source)
    }
}

#[derive(Default)]
struct Tally {
    captures: usize,
    tuples: usize,
    agree: usize,
    allowed: usize,
    ignored_extra: usize,
}

#[test]
fn flow_counters_agree_with_tshark() {
    let root = crate_root();
    let dir = root.join("tests/conformance/expected");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/conformance/expected exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".flows.tsv"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no expectation files in {}",
        dir.display()
    );
    let allowed = parse_allowed(&root.join("tests/conformance/known-differences.md"))
        .unwrap_or_else(|e| panic!("{e}"));

    let shared_present = root.join("../shared/corpus").is_dir();
    if !shared_present {
        eprintln!("conformance: ../shared/corpus is absent: only tests/pcap captures are compared");
    }

    let mut tally = Tally::default();
    let mut failures: Vec<String> = Vec::new();
    let mut rows: Vec<String> = Vec::new();
    for file in &files {
        let exp = match parse_expectation(file) {
            Ok(e) => e,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let path = capture_path(&exp.source);
        if !path.exists() {
            if exp.source.starts_with("corpus/") && !shared_present {
                continue;
            }
            failures.push(format!(
                "{}: capture {} is missing",
                exp.file.display(),
                path.display()
            ));
            continue;
        }
        tally.captures += 1;
        let (out, result) = run(std::slice::from_ref(&path), 1);
        match result {
            Ok(outcome) => {
                if let Some(e) = outcome.error {
                    failures.push(format!("{}: run stopped with an error: {e}", exp.source));
                }
            }
            Err(e) => failures.push(format!("{}: output error: {e}", exp.source)),
        }
        let got = match parse_lines(&out).and_then(|evs| directed_counts(&evs)) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{}: {e}", exp.source));
                continue;
            }
        };
        let mut agree = 0;
        for (t, want) in &exp.flows {
            let have = got.get(t).copied().unwrap_or_default();
            if have == *want {
                agree += 1;
            } else if is_allowed(&allowed, &exp.source, t) {
                tally.allowed += 1;
            } else {
                failures.push(format!(
                    "{}: {t}: tshark {} pkts {} bytes, gatewatch {} pkts {} bytes",
                    exp.source, want.pkts, want.bytes, have.pkts, have.bytes
                ));
            }
        }
        // The set of tuples: nothing gatewatch reports may be unknown to
        // tshark, unless tshark's own view of it was skipped.
        let expected_set: BTreeSet<&Tuple> = exp.flows.keys().collect();
        for (t, have) in &got {
            if expected_set.contains(t) {
                continue;
            }
            if exp.skips.iter().any(|s| s.matches(t)) {
                tally.ignored_extra += 1;
            } else if is_allowed(&allowed, &exp.source, t) {
                tally.allowed += 1;
            } else {
                failures.push(format!(
                    "{}: {t}: gatewatch {} pkts {} bytes, tshark has no such tuple",
                    exp.source, have.pkts, have.bytes
                ));
            }
        }
        tally.tuples += exp.flows.len();
        tally.agree += agree;
        rows.push(format!(
            "{:>6}/{:<6} {}",
            agree,
            exp.flows.len(),
            exp.source
        ));
    }

    eprintln!("conformance against tshark: agreeing/total tuples per capture");
    for r in &rows {
        eprintln!("  {r}");
    }
    eprintln!(
        "conformance: {} captures, {}/{} tuples agree, {} allowed by known-differences.md, \
         {} gatewatch tuples ignored (tshark skipped their frames), {} failures",
        tally.captures,
        tally.agree,
        tally.tuples,
        tally.allowed,
        tally.ignored_extra,
        failures.len()
    );
    assert!(
        tally.captures > 0,
        "no capture was compared (expectation files point nowhere?)"
    );
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(60).collect();
        panic!(
            "{} disagreements with tshark (first {}):\n{}",
            failures.len(),
            shown.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn expectation_files_are_well_formed() {
    // Guards the generator and the parser above: every file parses, names
    // its tshark command and version, and tuples carry non-zero counts.
    let dir = crate_root().join("tests/conformance/expected");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("expected dir").flatten() {
        let p = e.path();
        if !p.to_string_lossy().ends_with(".flows.tsv") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("readable");
        assert!(
            text.starts_with("# tshark "),
            "{}: no command line",
            p.display()
        );
        assert!(
            text.contains("# TShark (Wireshark) "),
            "{}: no version",
            p.display()
        );
        let exp = parse_expectation(&p).unwrap_or_else(|e| panic!("{e}"));
        for (t, c) in &exp.flows {
            assert!(
                c.pkts > 0 && c.bytes >= c.pkts * 14,
                "{}: {t}: {c:?}",
                p.display()
            );
        }
        n += 1;
    }
    assert!(n > 0);
}

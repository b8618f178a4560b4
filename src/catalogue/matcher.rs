//! The catalogue compiled for lookups once per finished flow: exact and
//! suffix name maps (one hash probe per label of a name), a port table,
//! exact JA4/JA3 maps, a short list of certificate substrings and a short
//! list of payload signatures.

use foldhash::HashMap;

use super::parse::{Entry, NamePattern, PayloadSig, SigDir, Transport};
use crate::flow::Direction;

/// How much one kind of evidence weighs when several tools match: a name,
/// a certificate or a payload signature says more than a fingerprint,
/// which says more than a port.
pub const WEIGHT_NAME: u32 = 8;
pub const WEIGHT_PAYLOAD: u32 = 8;
pub const WEIGHT_CERT: u32 = 8;
pub const WEIGHT_FINGERPRINT: u32 = 4;
pub const WEIGHT_PORT: u32 = 1;

/// Which tool (index in the catalogue's tool list) a key points at, and
/// the pattern text for evidence.
#[derive(Debug, Clone)]
pub struct Hit {
    pub tool: u32,
    pub pattern: String,
}

/// The compiled matchers.
#[derive(Debug, Default)]
pub struct Matchers {
    exact: HashMap<String, Vec<Hit>>,
    /// Keyed by the suffix without `*.`.
    suffix: HashMap<String, Vec<Hit>>,
    ports: HashMap<(u8, u16), Vec<u32>>,
    ja4: HashMap<String, Vec<u32>>,
    ja3: HashMap<String, Vec<u32>>,
    cert: Vec<(String, u32)>,
    payload: Vec<(PayloadSig, u32)>,
}

impl Matchers {
    /// Add one entry, whose tool has index `tool`.
    pub fn add(&mut self, e: &Entry, tool: u32) {
        for n in &e.names {
            let hit = Hit {
                tool,
                pattern: n.text(),
            };
            let (map, key) = match n {
                NamePattern::Exact(k) => (&mut self.exact, k),
                NamePattern::Suffix(k) => (&mut self.suffix, k),
            };
            push_unique(map.entry(key.clone()).or_default(), hit);
        }
        for &(t, lo, hi) in &e.ports {
            for p in lo..=hi {
                let v = self.ports.entry((t.ip_proto(), p)).or_default();
                if !v.contains(&tool) {
                    v.push(tool);
                }
            }
        }
        for j in &e.ja4 {
            add_id(&mut self.ja4, j, tool);
        }
        for j in &e.ja3 {
            add_id(&mut self.ja3, j, tool);
        }
        for c in &e.cert {
            self.cert.push((c.clone(), tool));
        }
        for s in &e.payload {
            self.payload.push((s.clone(), tool));
        }
    }

    /// Every name pattern matching `name` (lowercase ASCII expected; other
    /// names are lowercased into a short copy): the exact map, then one
    /// suffix probe per label boundary.
    pub fn names<'a>(&'a self, name: &str, mut f: impl FnMut(&'a Hit)) {
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) || name.ends_with('.') {
            lower = name.trim_end_matches('.').to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        if let Some(hits) = self.exact.get(name) {
            hits.iter().for_each(&mut f);
        }
        let mut rest = name;
        while let Some((_, tail)) = rest.split_once('.') {
            if let Some(hits) = self.suffix.get(tail) {
                hits.iter().for_each(&mut f);
            }
            rest = tail;
        }
    }

    pub fn port(&self, ip_proto: u8, port: u16) -> &[u32] {
        self.ports
            .get(&(ip_proto, port))
            .map_or(&[], |v| v.as_slice())
    }

    pub fn ja4(&self, j: &str) -> &[u32] {
        self.ja4.get(j).map_or(&[], |v| v.as_slice())
    }

    pub fn ja3(&self, j: &str) -> &[u32] {
        self.ja3.get(j).map_or(&[], |v| v.as_slice())
    }

    /// Certificate substrings found in `text` (lowercased by the caller).
    pub fn cert<'a>(&'a self, text: &str, mut f: impl FnMut(&'a str, u32)) {
        for (needle, tool) in &self.cert {
            if text.contains(needle.as_str()) {
                f(needle, *tool);
            }
        }
    }

    /// Payload signatures matching the first bytes of the flow.
    pub fn payload<'a>(
        &'a self,
        ip_proto: u8,
        first: impl Fn(Direction) -> &'a [u8],
        mut f: impl FnMut(&'a PayloadSig, Direction, u32),
    ) {
        for (sig, tool) in &self.payload {
            if sig.transport.ip_proto() != ip_proto {
                continue;
            }
            let dirs: &[Direction] = match sig.dir {
                SigDir::ToServer => &[Direction::ToServer],
                SigDir::ToClient => &[Direction::ToClient],
                SigDir::Either => &[Direction::ToServer, Direction::ToClient],
            };
            for &d in dirs {
                let got = first(d);
                if got.get(sig.offset..sig.offset + sig.bytes.len()) == Some(sig.bytes.as_slice()) {
                    f(sig, d, *tool);
                    break;
                }
            }
        }
    }
}

fn push_unique(v: &mut Vec<Hit>, hit: Hit) {
    if !v.iter().any(|h| h.tool == hit.tool) {
        v.push(hit);
    }
}

fn add_id(map: &mut HashMap<String, Vec<u32>>, key: &str, tool: u32) {
    let v = map.entry(key.to_owned()).or_default();
    if !v.contains(&tool) {
        v.push(tool);
    }
}

/// `tcp`/`udp` for an IP protocol number, for evidence strings.
pub fn transport_name(ip_proto: u8) -> &'static str {
    match ip_proto {
        6 => Transport::Tcp.name(),
        17 => Transport::Udp.name(),
        _ => "ip",
    }
}

//! The remote-access catalogue (issue 3): which product a flow is, from
//! data rather than code. `catalogue/remote-access.toml` (embedded in the
//! binary) maps DNS/SNI name patterns, certificate names, ports, JA4/JA3
//! fingerprints and first-payload signatures to a tool and its category;
//! a site adds its own entries with the same format
//! ([`Catalogue::with_site_entries`], `gatewatch analyze --catalogue`).
//!
//! - [`parse`]: the TOML shape and its validation;
//! - [`matcher`]: the compiled lookup tables.
//!
//! [`Catalogue::identify`] runs once per finished flow, never per packet.

pub mod matcher;
pub mod parse;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use foldhash::HashMap;

use crate::flow::Direction;
use crate::proto::app::{AppSummary, FlowCx, RemoteAccess};
use matcher::{
    transport_name, Matchers, WEIGHT_CERT, WEIGHT_FINGERPRINT, WEIGHT_NAME, WEIGHT_PAYLOAD,
    WEIGHT_PORT,
};
pub use parse::{Entry, NamePattern, PayloadSig, SigDir, Transport};

/// The catalogue shipped with gatewatch.
pub const EMBEDDED_TOML: &str = include_str!("../../catalogue/remote-access.toml");
/// How the embedded catalogue is named in errors.
pub const EMBEDDED_ORIGIN: &str = "catalogue/remote-access.toml (embedded)";
/// Most evidence strings one identification carries.
pub const MAX_EVIDENCE: usize = 8;

/// What kind of remote access a tool gives (`remote_access.category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    RemoteDesktop,
    RemoteShell,
    Vpn,
    Tunnel,
    Rmm,
    EnterpriseAccess,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::RemoteDesktop,
        Category::RemoteShell,
        Category::Vpn,
        Category::Tunnel,
        Category::Rmm,
        Category::EnterpriseAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::RemoteDesktop => "remote-desktop",
            Category::RemoteShell => "remote-shell",
            Category::Vpn => "vpn",
            Category::Tunnel => "tunnel",
            Category::Rmm => "rmm",
            Category::EnterpriseAccess => "enterprise-access",
        }
    }

    pub fn from_name(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A catalogue that failed to load: which file, which entry (index from 0
/// and tool name), which field, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueError {
    pub origin: String,
    pub entry: Option<(usize, String)>,
    pub field: Option<&'static str>,
    pub message: String,
}

impl std::fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((i, tool)) = &self.entry {
            write!(f, ": entry {i} ({tool:?})")?;
        }
        match self.field {
            Some(field) => write!(f, ": field `{field}`: expected {}", self.message),
            None => write!(f, ": {}", self.message),
        }
    }
}

impl std::error::Error for CatalogueError {}

/// One tool: entries with the same name share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    pub category: Category,
}

/// The loaded, compiled catalogue.
#[derive(Debug, Default)]
pub struct Catalogue {
    tools: Vec<Tool>,
    by_name: HashMap<String, u32>,
    entries: Vec<Entry>,
    matchers: Matchers,
}

impl Catalogue {
    /// The embedded catalogue, parsed once per process and shared.
    pub fn shared_embedded() -> Arc<Catalogue> {
        static EMBEDDED: OnceLock<Arc<Catalogue>> = OnceLock::new();
        EMBEDDED
            .get_or_init(|| Arc::new(Catalogue::embedded()))
            .clone()
    }

    /// The embedded catalogue (empty if it failed to parse, which the
    /// test suite rules out: see [`Catalogue::try_embedded`]).
    pub fn embedded() -> Catalogue {
        Catalogue::try_embedded().unwrap_or_default()
    }

    pub fn try_embedded() -> Result<Catalogue, CatalogueError> {
        Catalogue::from_toml(EMBEDDED_TOML, EMBEDDED_ORIGIN)
    }

    /// A catalogue of exactly the entries of `text`.
    pub fn from_toml(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let mut c = Catalogue::default();
        c.extend_from_toml(text, origin)?;
        Ok(c)
    }

    /// The embedded catalogue plus a site's own entries from `path`.
    pub fn with_site_entries(path: &Path) -> Result<Catalogue, CatalogueError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CatalogueError {
            origin: origin.clone(),
            entry: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        let mut c = Catalogue::try_embedded()?;
        c.extend_from_toml(&text, &origin)?;
        Ok(c)
    }

    /// Add the entries of `text` (all or none).
    pub fn extend_from_toml(&mut self, text: &str, origin: &str) -> Result<(), CatalogueError> {
        let entries = parse::parse(text, origin)?;
        // Check every tool's category before changing anything.
        let mut seen: HashMap<&str, Category> = HashMap::default();
        for (i, e) in entries.iter().enumerate() {
            let known = self
                .by_name
                .get(&e.tool)
                .and_then(|&t| self.tools.get(t as usize))
                .map(|t| t.category);
            let want = *seen
                .entry(e.tool.as_str())
                .or_insert(known.unwrap_or(e.category));
            if want != e.category {
                return Err(CatalogueError {
                    origin: origin.to_owned(),
                    entry: Some((i, e.tool.clone())),
                    field: Some("category"),
                    message: format!(
                        "{:?} as in the tool's other entries, found {:?}",
                        want.as_str(),
                        e.category.as_str()
                    ),
                });
            }
        }
        for e in entries {
            let next = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
            let tool = *self.by_name.entry(e.tool.clone()).or_insert_with(|| {
                self.tools.push(Tool {
                    name: e.tool.clone(),
                    category: e.category,
                });
                next
            });
            self.matchers.add(&e, tool);
            self.entries.push(e);
        }
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Which tool a finished flow is, if the catalogue knows: the best
    /// scored tool by what matched (names, certificate, payload signature
    /// over fingerprints over the responder's port; ties go to the tool
    /// listed first), with every piece of evidence for it.
    /// `remote_names` are DNS names the far end's address was resolved
    /// from (the DNS cache), matched like the SNI.
    pub fn identify(
        &self,
        app: &AppSummary,
        cx: &FlowCx,
        remote_names: &[String],
    ) -> Option<RemoteAccess> {
        let mut score = Scores::default();
        let m = &self.matchers;
        if let Some(tls) = &app.tls {
            if let Some(sni) = &tls.sni {
                m.names(sni, |h| {
                    score.add(h.tool, WEIGHT_NAME, || format!("sni:{}", h.pattern))
                });
            }
            for cert in [&tls.cert_subject, &tls.cert_issuer].into_iter().flatten() {
                let lower = cert.to_ascii_lowercase();
                m.cert(&lower, |needle, t| {
                    score.add(t, WEIGHT_CERT, || format!("cert:{needle}"))
                });
            }
            if let Some(cn) = tls.cert_subject.as_deref().and_then(common_name) {
                m.names(cn, |h| {
                    score.add(h.tool, WEIGHT_CERT, || format!("cert:{}", h.pattern))
                });
            }
            if let Some(j) = &tls.ja4 {
                for &t in m.ja4(j) {
                    score.add(t, WEIGHT_FINGERPRINT, || format!("ja4:{j}"));
                }
            }
            for (label, j) in [("ja3", &tls.ja3), ("ja3s", &tls.ja3s)] {
                if let Some(j) = j {
                    for &t in m.ja3(j) {
                        score.add(t, WEIGHT_FINGERPRINT, || format!("{label}:{j}"));
                    }
                }
            }
        }
        for n in remote_names {
            m.names(n, |h| {
                score.add(h.tool, WEIGHT_NAME, || format!("dns:{}", h.pattern))
            });
        }
        m.payload(
            cx.ip_proto,
            |d| app.first_bytes.get(d),
            |sig, d, t| {
                score.add(t, WEIGHT_PAYLOAD, || {
                    let dir = match d {
                        Direction::ToServer => "to_server",
                        Direction::ToClient => "to_client",
                    };
                    format!(
                        "payload:{}/{dir}@{}:{}",
                        sig.transport.name(),
                        sig.offset,
                        sig.hex
                    )
                })
            },
        );
        for &t in m.port(cx.ip_proto, cx.dst_port) {
            score.add(t, WEIGHT_PORT, || {
                format!("port:{}/{}", transport_name(cx.ip_proto), cx.dst_port)
            });
        }
        let (tool, evidence) = score.best()?;
        let tool = self.tools.get(tool as usize)?;
        Some(RemoteAccess {
            tool: Some(tool.name.clone()),
            category: Some(tool.category.as_str()),
            evidence,
            identity: None,
        })
    }
}

/// The catalogue's product reading refines the protocol-only one: the tool
/// and category come from the catalogue, the evidence of both is kept, and
/// so is the identity the dissectors found.
pub fn refine(base: Option<RemoteAccess>, product: Option<RemoteAccess>) -> Option<RemoteAccess> {
    match (base, product) {
        (Some(mut b), Some(p)) => {
            b.tool = p.tool;
            b.category = p.category;
            for e in p.evidence {
                if b.evidence.len() < MAX_EVIDENCE && !b.evidence.contains(&e) {
                    b.evidence.push(e);
                }
            }
            Some(b)
        }
        (b, p) => p.or(b),
    }
}

/// The first `CN=` value of a subject written as `A=x, CN=y, ...`.
fn common_name(subject: &str) -> Option<&str> {
    subject
        .split(", ")
        .find_map(|part| part.strip_prefix("CN="))
        .map(str::trim)
        .filter(|cn| !cn.is_empty())
}

/// Per-tool scores of one identification (few tools ever match one flow,
/// so a short list beats a map).
#[derive(Default)]
struct Scores {
    tools: Vec<(u32, u32, Vec<String>)>,
}

impl Scores {
    fn add(&mut self, tool: u32, weight: u32, evidence: impl FnOnce() -> String) {
        let i = match self.tools.iter().position(|(t, _, _)| *t == tool) {
            Some(i) => i,
            None => {
                self.tools.push((tool, 0, Vec::new()));
                self.tools.len() - 1
            }
        };
        if let Some((_, s, ev)) = self.tools.get_mut(i) {
            let e = evidence();
            if !ev.contains(&e) {
                *s = s.saturating_add(weight);
                if ev.len() < MAX_EVIDENCE {
                    ev.push(e);
                }
            }
        }
    }

    /// Highest score; ties go to the lower tool index (listed first).
    fn best(self) -> Option<(u32, Vec<String>)> {
        self.tools
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(t, _, ev)| (t, ev))
    }
}

#[cfg(test)]
mod tests;

//! Detection: the site policy applied to remote-access sessions. Each
//! session is tied to an identity, judged by the rules (each a finding
//! with its evidence and a plain reason), scored, and, when the score
//! reaches the policy's threshold, alerted once per identity and rule
//! within the dedup window.
//!
//! One [`Detector`] serves the whole run. It sits behind the ordered
//! writer, so it sees sessions in capture order whatever the number of
//! workers, and the stateful rules (shared egress, travel, working hours)
//! give the same answers for 1 or N workers.
//!
//! ```text
//! worker: flow ends -> SessionFacts (facts.rs) -+
//!                                               v
//! writer: Detector::on_session -> identity.rs -> rules.rs + history.rs
//!         -> Verdict (findings, score, alert) -> output::alert_json
//! ```

pub mod facts;
pub mod finding;
pub mod history;
pub mod identity;
pub mod policy;
pub mod rules;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use facts::{HostFacts, SessionFacts};
pub use finding::{Finding, RuleId, Severity};
pub use identity::Resolved;
pub use policy::{Policy, PolicyHandle};

use crate::config::Location;
use history::History;
use identity::{HostTable, IdentityMap};

/// Save the state at most this often (wall-clock seconds) while running.
const SAVE_INTERVAL_S: u64 = 60;

/// What detection is given for a run: the policy (swapped on reload) and
/// the sensor location given on the command line, which wins over the
/// policy's.
#[derive(Clone)]
pub struct DetectConfig {
    pub policy: PolicyHandle,
    pub sensor_location: Option<Location>,
    /// Told the leading rule of every alert written (the service's
    /// `gatewatch_alerts_total{rule}` metric).
    pub on_alert: Option<AlertHook>,
}

/// A callback for each alert, with its leading rule's id.
pub type AlertHook = Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for DetectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectConfig")
            .field("policy", &self.current().source)
            .field("sensor_location", &self.sensor_location)
            .field("on_alert", &self.on_alert.is_some())
            .finish()
    }
}

impl DetectConfig {
    pub fn new(policy: Policy, sensor_location: Option<Location>) -> DetectConfig {
        DetectConfig {
            policy: Arc::new(std::sync::RwLock::new(Arc::new(policy))),
            sensor_location,
            on_alert: None,
        }
    }

    /// Swap in a new policy (the state stays).
    pub fn replace(&self, policy: Policy) {
        if let Ok(mut p) = self.policy.write() {
            *p = Arc::new(policy);
        }
    }

    pub fn current(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Counters for the `stats` event and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectStats {
    pub sessions: u64,
    pub sessions_with_findings: u64,
    pub alerts: u64,
    /// Alerts not written because an alert for the same identity and rule
    /// was written within the dedup window.
    pub suppressed: u64,
    /// Findings per rule, indexed like `RuleId::ALL`.
    pub findings: [u64; 10],
    /// Alerts per primary rule, indexed like `RuleId::ALL`.
    pub alerts_by_rule: [u64; 10],
    /// One line per alert, for a person reading the terminal (the first
    /// [`MAX_ALERT_LINES`]); not written to events.
    pub alert_lines: Vec<String>,
}

/// Alerts summarised in [`DetectStats::alert_lines`].
pub const MAX_ALERT_LINES: usize = 20;

/// The alert a session raised.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDecision {
    /// Index of the finding that leads the alert (the highest score).
    pub primary: usize,
    pub severity: Severity,
    /// This session and those suppressed for the same identity and rule
    /// since the last alert.
    pub count: u64,
}

/// What detection concluded about one session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub identity: Option<Resolved>,
    pub findings: Vec<Finding>,
    pub score: u32,
    pub alert: Option<AlertDecision>,
}

impl Verdict {
    /// The session's severity: the worst finding's, raised to the score's
    /// band (`None` without findings).
    pub fn severity(&self) -> Option<Severity> {
        let worst = self.findings.iter().map(|f| f.severity).max()?;
        Some(worst.max(Severity::of_score(self.score)))
    }
}

pub struct Detector {
    config: DetectConfig,
    history: History,
    hosts: HostTable,
    map: IdentityMap,
    stats: DetectStats,
    store: Option<PathBuf>,
    last_save: Instant,
    dirty: bool,
}

impl Detector {
    /// A detector with the state saved at the policy's store path (a fresh
    /// one when there is none, or when it cannot be read: said once).
    pub fn new(config: DetectConfig) -> Detector {
        let policy = config.current();
        let store = policy.store.path.clone();
        let history = match &store {
            Some(path) => History::load(path).unwrap_or_else(|e| {
                eprintln!("gatewatch: detection state {e}; starting with an empty state");
                History::new()
            }),
            None => History::new(),
        };
        let mut map = IdentityMap::default();
        map.follow(policy.identity_map.as_deref());
        Detector {
            config,
            history,
            hosts: HostTable::default(),
            map,
            stats: DetectStats::default(),
            store,
            last_save: Instant::now(),
            dirty: false,
        }
    }

    pub fn stats(&self) -> &DetectStats {
        &self.stats
    }

    /// A DHCP exchange named a site host.
    pub fn on_host(&mut self, h: &HostFacts) {
        self.hosts.learn(h);
    }

    /// Judge one session.
    pub fn on_session(&mut self, s: &SessionFacts) -> Verdict {
        let policy = self.config.current();
        self.map.follow(policy.identity_map.as_deref());
        self.map.refresh(false);
        self.stats.sessions += 1;
        let who = identity::resolve(s, &policy, &self.hosts, &self.map);
        let mut verdict = Verdict {
            findings: self.findings(s, &policy, who.as_ref()),
            identity: who,
            ..Verdict::default()
        };
        verdict.score = finding::total_score(&verdict.findings);
        if !verdict.findings.is_empty() {
            self.stats.sessions_with_findings += 1;
            for f in &verdict.findings {
                if let Some(slot) = rule_slot(f.rule).and_then(|i| self.stats.findings.get_mut(i)) {
                    *slot += 1;
                }
            }
        }
        verdict.alert = self.alert(s, &policy, &verdict);
        self.dirty = true;
        self.maybe_save(&policy, s.start_secs());
        verdict
    }

    fn findings(&mut self, s: &SessionFacts, p: &Policy, who: Option<&Resolved>) -> Vec<Finding> {
        let mut out = Vec::new();
        if who.is_some_and(|w| p.allow.identities.contains(&w.name.to_ascii_lowercase())) {
            return out;
        }
        if s.remote_ip.is_some_and(|ip| p.allow.address(ip)) {
            return out;
        }
        if s.inbound && !s.internal_ip.is_some_and(|ip| p.watches(ip, s.dst_port)) {
            return out;
        }
        let expect = p.expect_of(who.and_then(|w| w.index));
        let sensor = self.config.sensor_location.or(p.sensor_location);
        let r = &p.rules;
        let mut push = |f: Option<Finding>| out.extend(f);
        if r.unexpected_geography.enabled {
            push(rules::unexpected_geography(s, &expect, p, who));
        }
        if r.anonymizer_exit.common.enabled {
            push(rules::anonymizer_exit(s, p));
        }
        if r.latency_geography_mismatch.common.enabled {
            push(rules::latency_geography_mismatch(s, p, sensor));
        }
        if r.relayed_session.common.enabled {
            push(rules::relayed_session(s, p));
        }
        if r.tunnel_indicators.common.enabled {
            push(rules::tunnel_indicators(s, p, who));
        }
        if r.remote_control_tool.enabled {
            push(rules::remote_control_tool(s, p, &expect, who));
        }
        if r.unknown_identity.enabled {
            push(rules::unknown_identity(s, p, who));
        }
        if let Some(w) = who {
            if r.shared_egress.common.enabled {
                out.extend(history::shared_egress(&mut self.history, s, w, p));
            }
            if r.impossible_travel.common.enabled {
                out.extend(history::impossible_travel(&mut self.history, s, w, p));
            }
            if r.off_hours.common.enabled {
                out.extend(history::off_hours(&mut self.history, s, w, &expect, p));
            }
        }
        // Highest contribution first: the alert's lead is the first.
        out.sort_by(|a, b| b.score.cmp(&a.score).then(a.rule.cmp(&b.rule)));
        out
    }

    /// Decide whether the verdict is alerted now or counted into a later
    /// alert (one per identity and rule within the dedup window).
    fn alert(&mut self, s: &SessionFacts, p: &Policy, v: &Verdict) -> Option<AlertDecision> {
        if v.findings.is_empty() || v.score < p.alerts.min_score {
            return None;
        }
        // Without an identity, the far end stands for who it is.
        let who = match (&v.identity, s.remote_ip) {
            (Some(w), _) => w.name.clone(),
            (None, Some(ip)) => format!("address:{ip}"),
            (None, None) => format!("flow:{}", s.flow_id),
        };
        let now = s.start_secs();
        let window = p.alerts.dedup_window_s;
        let mut due = false;
        let mut primary_count = 1;
        for (i, f) in v.findings.iter().enumerate() {
            let count = history::dedup(&mut self.history, &who, f.rule, now, window);
            if let Some(c) = count {
                due = true;
                if i == 0 {
                    primary_count = c;
                }
            }
        }
        if !due {
            self.stats.suppressed += 1;
            return None;
        }
        self.stats.alerts += 1;
        let lead = v.findings.first()?.rule;
        if let Some(slot) = rule_slot(lead).and_then(|i| self.stats.alerts_by_rule.get_mut(i)) {
            *slot += 1;
        }
        if let Some(hook) = &self.config.on_alert {
            hook(lead.as_str());
        }
        let severity = v.severity()?;
        if self.stats.alert_lines.len() < MAX_ALERT_LINES {
            let from = s.remote_ip.map_or(String::new(), |ip| format!(" {ip}"));
            let rules: Vec<&str> = v.findings.iter().map(|f| f.rule.as_str()).collect();
            self.stats.alert_lines.push(format!(
                "[{}] {} score {}{from} ({}): {}",
                severity.as_str(),
                who,
                v.score,
                rules.join(", "),
                v.findings.first()?.reason
            ));
        }
        Some(AlertDecision {
            primary: 0,
            severity,
            count: primary_count,
        })
    }

    fn maybe_save(&mut self, p: &Policy, now: i64) {
        if self.last_save.elapsed().as_secs() < SAVE_INTERVAL_S {
            return;
        }
        self.history.prune(now, p);
        self.save();
    }

    /// Write the state to the store (if one is configured).
    pub fn save(&mut self) {
        self.last_save = Instant::now();
        let Some(path) = &self.store else { return };
        if !self.dirty {
            return;
        }
        if let Err(e) = self.history.save(path) {
            eprintln!("gatewatch: detection state {e}");
        } else {
            self.dirty = false;
        }
    }

    /// End of the run: prune and save.
    pub fn finish(&mut self) {
        let p = self.config.current();
        let now = self
            .history
            .identities
            .values()
            .map(|h| h.last_seen)
            .max()
            .unwrap_or(0);
        self.history.prune(now, &p);
        self.save();
    }

    /// Entries held by the stateful rules (identities, egresses, dedup).
    pub fn state_sizes(&self) -> (usize, usize, usize) {
        (
            self.history.identities.len(),
            self.history.egresses.len(),
            self.history.dedup.len(),
        )
    }
}

fn rule_slot(rule: RuleId) -> Option<usize> {
    RuleId::ALL.iter().position(|&r| r == rule)
}

#[cfg(test)]
mod tests;

//! The rules that need history, and the bounded state they keep:
//! `shared_egress` (several identities behind one egress, or one identity
//! rotating through many), `impossible_travel`, `off_hours`, and the
//! alerts' deduplication. All times are capture times (seconds), so a file
//! analysed twice gives the same answers.
//!
//! Every map is bounded by the policy's `[store]` limits: when one is full,
//! the least recently seen tenth of its entries goes at once (one sort per
//! tenth of the capacity keeps inserts amortised O(log n)).
//! The state is saved as a JSON file (atomically: written aside, then
//! renamed) and read back at start, so the windows survive restarts.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::path::Path;

use chrono::{Datelike, TimeZone, Timelike};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::facts::{RemoteFacts, SessionFacts};
use super::finding::{Finding, RuleId};
use super::identity::Resolved;
use super::policy::{Expect, Policy, WorkingTime};
use super::rules::{distance_km, net_kind};

/// Store format version (refuse files of another version).
const STORE_VERSION: u32 = 1;
/// Per identity: most egresses, countries and off-hours sessions kept.
const MAX_EGRESSES_PER_IDENTITY: usize = 32;
const MAX_OFF_HOURS: usize = 64;
/// Per egress: most identities kept.
const MAX_IDENTITIES_PER_EGRESS: usize = 64;
/// Identity names listed in a finding's evidence.
const MAX_NAMES_IN_EVIDENCE: usize = 16;

/// A place an identity was seen at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub ts: i64,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_km: u32,
    pub country: Option<String>,
    pub ip: IpAddr,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdentityHistory {
    pub last_seen: i64,
    pub last_place: Option<Place>,
    /// (egress prefix, country, last seen).
    pub egresses: VecDeque<(String, Option<String>, i64)>,
    /// Start times of off-hours sessions.
    pub off_hours: VecDeque<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EgressHistory {
    pub last_seen: i64,
    /// (identity, last seen).
    pub identities: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DedupEntry {
    pub last_alert: i64,
    /// Sessions that matched since that alert and were not alerted.
    pub suppressed: u64,
}

/// Everything the stateful rules remember.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct History {
    version: u32,
    pub identities: HashMap<String, IdentityHistory>,
    pub egresses: HashMap<String, EgressHistory>,
    /// Keyed by `"identity\u{0}rule"`.
    pub dedup: HashMap<String, DedupEntry>,
}

impl History {
    pub fn new() -> History {
        History {
            version: STORE_VERSION,
            ..Default::default()
        }
    }

    /// Read a saved state. A missing file is a fresh start; a file that is
    /// not a state of this version is an error naming it (the caller
    /// starts fresh and says so, never overwriting it unread).
    pub fn load(path: &Path) -> Result<History, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::new()),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        let h: History = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a gatewatch detection state: {e}", path.display()))?;
        if h.version != STORE_VERSION {
            return Err(format!(
                "{}: version: expected {STORE_VERSION}, found {}",
                path.display(),
                h.version
            ));
        }
        Ok(h)
    }

    /// Write the state atomically (a temporary file beside it, renamed).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let tmp = path.with_extension("tmp");
        let body = serde_json::to_vec(self).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(&tmp, body).map_err(|e| format!("{}: cannot write: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: cannot replace: {e}", path.display()))
    }

    /// Forget what is older than the retention, and keep every map within
    /// its bound.
    pub fn prune(&mut self, now: i64, p: &Policy) {
        let oldest = now.saturating_sub(p.store.retention_s as i64);
        self.identities.retain(|_, h| h.last_seen >= oldest);
        self.egresses.retain(|_, h| h.last_seen >= oldest);
        let dedup_oldest = now.saturating_sub(p.alerts.dedup_window_s as i64);
        self.dedup
            .retain(|_, d| d.last_alert >= dedup_oldest || d.suppressed > 0);
        bound(&mut self.identities, p.store.max_identities, |h| {
            h.last_seen
        });
        bound(&mut self.egresses, p.store.max_egresses, |h| h.last_seen);
        bound(
            &mut self.dedup,
            p.store.max_identities.saturating_mul(4),
            |d| d.last_alert,
        );
    }

    fn identity(&mut self, name: &str, now: i64, p: &Policy) -> &mut IdentityHistory {
        touch(&mut self.identities, name, now, p.store.max_identities)
    }

    fn egress(&mut self, key: &str, now: i64, p: &Policy) -> &mut EgressHistory {
        touch(&mut self.egresses, key, now, p.store.max_egresses)
    }
}

/// An entry that was seen at `now`.
trait Seen: Default {
    fn last_seen(&self) -> i64;
    fn seen(&mut self, now: i64);
}

impl Seen for IdentityHistory {
    fn last_seen(&self) -> i64 {
        self.last_seen
    }
    fn seen(&mut self, now: i64) {
        self.last_seen = self.last_seen.max(now);
    }
}

impl Seen for EgressHistory {
    fn last_seen(&self) -> i64 {
        self.last_seen
    }
    fn seen(&mut self, now: i64) {
        self.last_seen = self.last_seen.max(now);
    }
}

/// The entry for `key`, created if need be (making room first, so the map
/// never exceeds `max`), marked seen at `now`.
fn touch<'m, V: Seen>(
    map: &'m mut HashMap<String, V>,
    key: &str,
    now: i64,
    max: usize,
) -> &'m mut V {
    if !map.contains_key(key) {
        bound(map, max.saturating_sub(1), V::last_seen);
    }
    let v = map.entry(key.to_string()).or_default();
    v.seen(now);
    v
}

/// Keep `map` at most `max` entries: when over, drop the least recently
/// seen tenth (at least one) in one pass.
fn bound<V>(map: &mut HashMap<String, V>, max: usize, seen: impl Fn(&V) -> i64) {
    if map.len() <= max {
        return;
    }
    let excess = map.len() - max;
    let drop = excess.max(max / 10).max(1);
    let mut ages: Vec<i64> = map.values().map(&seen).collect();
    ages.sort_unstable();
    let cut = ages
        .get(drop.saturating_sub(1))
        .copied()
        .unwrap_or(i64::MAX);
    let mut dropped = 0;
    map.retain(|_, v| {
        if dropped < drop && seen(v) <= cut {
            dropped += 1;
            false
        } else {
            true
        }
    });
}

/// The egress a remote address belongs to (its /32 or /64 by default).
pub fn egress_key(ip: IpAddr, p: &Policy) -> String {
    let len = match ip {
        IpAddr::V4(_) => p.rules.shared_egress.prefix_v4,
        IpAddr::V6(_) => p.rules.shared_egress.prefix_v6,
    };
    IpNet::new(ip, len)
        .map(|n| n.trunc().to_string())
        .unwrap_or_else(|_| ip.to_string())
}

/// Is this far end an anonymizer (its location is not the person's)?
fn anonymized(s: &SessionFacts) -> bool {
    s.remote.as_ref().is_some_and(RemoteFacts::is_anonymizer)
}

/// Rule 3, `shared_egress`, both ways: several identities behind this
/// session's egress within the window; this identity rotating through
/// many egresses or countries.
pub fn shared_egress(
    h: &mut History,
    s: &SessionFacts,
    who: &Resolved,
    p: &Policy,
) -> Vec<Finding> {
    let rule = &p.rules.shared_egress;
    let mut out = Vec::new();
    let (Some(ip), true) = (s.remote_ip, s.inbound) else {
        return out;
    };
    if p.allow.address(ip) {
        return out;
    }
    let exempt = s
        .remote
        .as_ref()
        .and_then(|r| r.connection_type.as_deref())
        .is_some_and(|t| rule.exempt_connection_types.iter().any(|e| e == t));
    if exempt {
        return out;
    }
    let now = s.start_secs();
    let since = now.saturating_sub(rule.window_s as i64);
    let key = egress_key(ip, p);

    let e = h.egress(&key, now, p);
    e.identities.retain(|(_, t)| *t >= since);
    if let Some(slot) = e.identities.iter_mut().find(|(n, _)| *n == who.name) {
        slot.1 = slot.1.max(now);
    } else if e.identities.len() < MAX_IDENTITIES_PER_EGRESS {
        e.identities.push((who.name.clone(), now));
    }
    if e.identities.len() >= rule.min_identities {
        let names: Vec<&str> = e
            .identities
            .iter()
            .take(MAX_NAMES_IN_EVIDENCE)
            .map(|(n, _)| n.as_str())
            .collect();
        let hours = rule.window_s as f64 / 3600.0;
        out.push(
            Finding::new(
                RuleId::SharedEgress,
                rule.common.severity,
                rule.common.score,
                format!(
                    "{} different identities ({}) connected from the same address {key} within {hours:.0} h: one place serving several people, as a laptop farm does.",
                    e.identities.len(),
                    names.join(", ")
                ),
            )
            .with("egress", key.as_str(), "history")
            .with("identities", names.clone(), "history")
            .with("identity_count", e.identities.len(), "history")
            .with("window_hours", hours, "policy"),
        );
        if let Some(f) = out.last_mut() {
            f.related = names.iter().map(|n| n.to_string()).collect();
        }
    }

    let country = s.remote.as_ref().and_then(|r| r.country_iso.clone());
    let idh = h.identity(&who.name, now, p);
    idh.egresses.retain(|(_, _, t)| *t >= since);
    match idh.egresses.iter_mut().find(|(k, _, _)| *k == key) {
        Some(slot) => slot.2 = slot.2.max(now),
        None => {
            if idh.egresses.len() >= MAX_EGRESSES_PER_IDENTITY {
                idh.egresses.pop_front();
            }
            idh.egresses.push_back((key.clone(), country, now));
        }
    }
    let mut countries: Vec<&str> = idh
        .egresses
        .iter()
        .filter_map(|(_, c, _)| c.as_deref())
        .collect();
    countries.sort_unstable();
    countries.dedup();
    let egresses = idh.egresses.len();
    if egresses > rule.max_egresses_per_identity
        || countries.len() > rule.max_countries_per_identity
    {
        out.push(
            Finding::new(
                RuleId::SharedEgress,
                rule.common.severity,
                rule.common.score,
                format!(
                    "{} connected from {egresses} different addresses in {} countries ({}) within {:.0} h: one identity rotating through many exits.",
                    who.name,
                    countries.len(),
                    countries.join(", "),
                    rule.window_s as f64 / 3600.0
                ),
            )
            .with("egress_count", egresses, "history")
            .with("countries", countries.clone(), "history")
            .with("max_egresses", rule.max_egresses_per_identity, "policy")
            .with("max_countries", rule.max_countries_per_identity, "policy"),
        );
    }
    out
}

/// Rule 4, `impossible_travel`: this identity was somewhere else too
/// recently to be here now.
pub fn impossible_travel(
    h: &mut History,
    s: &SessionFacts,
    who: &Resolved,
    p: &Policy,
) -> Option<Finding> {
    let rule = &p.rules.impossible_travel;
    if !s.inbound || anonymized(s) {
        return None;
    }
    let r = s.remote.as_ref()?;
    let (lat, lon) = r.location()?;
    let ip = s.remote_ip?;
    let now = s.start_secs();
    let here = Place {
        ts: now,
        lat,
        lon,
        accuracy_km: r.accuracy_km.unwrap_or(0),
        country: r.country_iso.clone(),
        ip,
    };
    let idh = h.identity(&who.name, now, p);
    let before = idh.last_place.replace(here.clone())?;
    if before.ts > now {
        // Out of order (another worker's older session): keep the newer.
        idh.last_place = Some(before);
        return None;
    }
    let raw = distance_km((before.lat, before.lon), (lat, lon));
    let distance = (raw - f64::from(before.accuracy_km) - f64::from(here.accuracy_km)).max(0.0);
    if distance < rule.min_distance_km {
        return None;
    }
    let hours = (now - before.ts) as f64 / 3600.0;
    let speed = if hours > 0.0 {
        distance / hours
    } else {
        f64::INFINITY
    };
    if speed <= rule.max_speed_kmh {
        return None;
    }
    let minutes = (now - before.ts) as f64 / 60.0;
    let from = before
        .country
        .clone()
        .unwrap_or_else(|| before.ip.to_string());
    let to = here.country.clone().unwrap_or_else(|| ip.to_string());
    Some(
        Finding::new(
            RuleId::ImpossibleTravel,
            rule.common.severity,
            rule.common.score,
            format!(
                "{} was in {from} ({}) {minutes:.0} min earlier and is now in {to} ({ip}): {raw:.0} km apart, a speed of {} km/h, above the {:.0} km/h anyone can travel.",
                who.name,
                before.ip,
                if speed.is_finite() { format!("{speed:.0}") } else { "unbounded".into() },
                rule.max_speed_kmh
            ),
        )
        .with("previous_address", before.ip.to_string(), "history")
        .with("previous_country", before.country.clone(), "history")
        .with("minutes_between", (minutes * 10.0).round() / 10.0, "history")
        .with("distance_km", raw.round(), "geoip_city")
        .with("speed_kmh", if speed.is_finite() { serde_json::json!(speed.round()) } else { serde_json::Value::Null }, "physics"),
    )
}

/// Local weekday (0 Monday) and minute of `ts` in `tz`.
fn local(ts: i64, tz: chrono_tz::Tz) -> Option<(u32, u16)> {
    let t = tz.timestamp_opt(ts, 0).single()?;
    Some((
        t.weekday().num_days_from_monday(),
        (t.hour() * 60 + t.minute()) as u16,
    ))
}

/// Weekday and minute of `ts` at a fixed offset from UTC.
fn at_offset(ts: i64, offset_min: i32) -> (u32, u16) {
    let t = ts + i64::from(offset_min) * 60;
    let days = t.div_euclid(86_400);
    // 1970-01-01 was a Thursday (3, counting from Monday).
    let weekday = (days + 3).rem_euclid(7) as u32;
    let minute = (t.rem_euclid(86_400) / 60) as u16;
    (weekday, minute)
}

/// The whole-hour UTC offsets at which the most of `times` fall in
/// working time, with how many do.
fn best_offsets(times: &VecDeque<i64>, w: WorkingTime) -> (Vec<i32>, usize) {
    let mut best: (Vec<i32>, usize) = (Vec::new(), 0);
    for hours in -12..=14 {
        let n = times
            .iter()
            .filter(|&&t| {
                let (d, m) = at_offset(t, hours * 60);
                w.contains(d, m)
            })
            .count();
        if n > best.1 {
            best = (vec![hours], n);
        } else if n == best.1 && n > 0 {
            best.0.push(hours);
        }
    }
    best
}

fn utc(offset_h: i32) -> String {
    format!(
        "UTC{}{:02}:00",
        if offset_h < 0 { '-' } else { '+' },
        offset_h.abs()
    )
}

/// Offsets as runs: "UTC-12:00 to UTC-09:00, UTC+07:00 to UTC+14:00".
fn offset_runs(offsets: &[i32]) -> String {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for &o in offsets {
        match runs.last_mut() {
            Some(r) if r.1 + 1 == o => r.1 = o,
            _ => runs.push((o, o)),
        }
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                utc(a)
            } else {
                format!("{} to {}", utc(a), utc(b))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rule 9, `off_hours`: sessions outside the identity's working hours, enough of
/// them within the window, and consistently inside working hours of one
/// other time zone.
pub fn off_hours(
    h: &mut History,
    s: &SessionFacts,
    who: &Resolved,
    expect: &Expect,
    p: &Policy,
) -> Option<Finding> {
    let rule = &p.rules.off_hours;
    let (tz, working) = (expect.time_zone?, expect.working?);
    let now = s.start_secs();
    let (day, minute) = local(now, tz)?;
    if working.contains(day, minute) {
        return None;
    }
    let idh = h.identity(&who.name, now, p);
    let since = now.saturating_sub(rule.window_s as i64);
    idh.off_hours.retain(|&t| t >= since);
    if idh.off_hours.len() >= MAX_OFF_HOURS {
        idh.off_hours.pop_front();
    }
    idh.off_hours.push_back(now);
    let n = idh.off_hours.len();
    if n < rule.min_sessions {
        return None;
    }
    let (offsets, matching) = best_offsets(&idh.off_hours, working);
    // "Consistently": at least 80% of them fit one other zone's day.
    if matching * 5 < n * 4 || offsets.is_empty() {
        return None;
    }
    let local_time = format!("{:02}:{:02}", minute / 60, minute % 60);
    let zone = offset_runs(&offsets);
    let zones: Vec<String> = offsets.iter().map(|&o| utc(o)).collect();
    Some(
        Finding::new(
            RuleId::OffHours,
            rule.common.severity,
            rule.common.score,
            format!(
                "{} works at {local_time} {} time, outside {:02}:{:02}-{:02}:{:02}; {matching} of {n} such sessions in {:.0} days fall in working hours at {zone}.",
                who.name,
                tz.name(),
                working.start_min / 60,
                working.start_min % 60,
                working.end_min / 60,
                working.end_min % 60,
                rule.window_s as f64 / 86_400.0
            ),
        )
        .with("local_time", local_time, "capture_time")
        .with("time_zone", tz.name(), "policy")
        .with("off_hours_sessions", n, "history")
        .with("matching_utc_offsets", zones, "history")
        .with("matching_sessions", matching, "history"),
    )
}

/// The network kind, for evidence elsewhere.
pub fn kind_of(s: &SessionFacts) -> Option<&'static str> {
    s.remote.as_ref().and_then(net_kind).map(|k| k.as_str())
}

/// Alert deduplication: is an alert for `who` and `rule` due at `now`?
/// Returns the count to report (this session and those suppressed since
/// the last alert), or `None` when suppressed.
pub fn dedup(h: &mut History, who: &str, rule: RuleId, now: i64, window_s: u64) -> Option<u64> {
    let key = format!("{who}\u{0}{}", rule.as_str());
    let e = h.dedup.entry(key).or_default();
    // Sessions reach the detector in the order their flows end, so a
    // session may start before the one alerted last: distance either way.
    let due = e.last_alert == 0 || now.abs_diff(e.last_alert) >= window_s;
    if due {
        let count = e.suppressed + 1;
        e.last_alert = now.max(1);
        e.suppressed = 0;
        Some(count)
    } else {
        e.suppressed += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekday_and_minute_at_an_offset_follow_the_calendar() {
        // 2026-11-24T18:30:00Z is a Tuesday (date -u -d @1795545000).
        let ts = 1_795_545_000;
        assert_eq!(at_offset(ts, 0), (1, 18 * 60 + 30));
        // At UTC+09:00 it is Wednesday 03:30.
        assert_eq!(at_offset(ts, 9 * 60), (2, 3 * 60 + 30));
        assert_eq!(local(ts, chrono_tz::Europe::Rome), Some((1, 19 * 60 + 30)));
    }

    #[test]
    fn bound_drops_the_least_recently_seen() {
        let mut m: HashMap<String, i64> = (0..100).map(|i| (format!("k{i}"), i)).collect();
        bound(&mut m, 50, |v| *v);
        assert!(m.len() <= 50, "{}", m.len());
        assert!(m.contains_key("k99") && !m.contains_key("k0"));
    }
}

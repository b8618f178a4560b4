//! Pseudonymisation of personal data in exported events (GDPR Art. 4(5):
//! data that can no longer be attributed to a person without a separately
//! kept key).
//!
//! User and device names are replaced by a keyed hash, HMAC-SHA256 (RFC 2104
//! with SHA-256, FIPS 180-4) under the site key: `user:` or `device:` and the
//! first 16 hex digits (64 bits) of the MAC. The same name gives the same
//! pseudonym at one site (so an analyst can still correlate sessions), a
//! different one at another site, and without the key a name cannot be
//! confirmed by hashing guesses. Coordinates are rounded; listed fields are
//! removed.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::config::PrivacyConfig;

/// Hex digits of the MAC kept in a pseudonym (64 bits: collisions need
/// about 2^32 distinct names).
const PSEUDONYM_HEX_DIGITS: usize = 16;

/// Nesting depth searched for `lat`/`lon` (events are a few levels deep).
const MAX_DEPTH: usize = 8;

/// A configured pseudonymiser.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
    user_fields: Vec<Vec<String>>,
    device_fields: Vec<Vec<String>>,
    remove_fields: Vec<Vec<String>>,
    scale: f64,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Pseudonymiser").finish_non_exhaustive()
    }
}

fn split_paths(paths: &[String]) -> Vec<Vec<String>> {
    paths
        .iter()
        .map(|p| p.split('.').map(str::to_owned).collect())
        .collect()
}

impl Pseudonymiser {
    /// A pseudonymiser for `cfg` with `key` (already loaded).
    /// (HMAC takes keys of any length, RFC 2104 §2, so the error is only
    /// the crate's signature.)
    pub fn new(cfg: &PrivacyConfig, key: &[u8]) -> Result<Self, hmac::digest::InvalidLength> {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)?;
        Ok(Pseudonymiser {
            mac,
            user_fields: split_paths(&cfg.user_fields),
            device_fields: split_paths(&cfg.device_fields),
            remove_fields: split_paths(&cfg.remove_fields),
            scale: 10f64.powi(i32::from(cfg.location_decimals)),
        })
    }

    /// `kind:` and 16 hex digits of HMAC-SHA256(key, kind 0x00 value).
    pub fn pseudonym(&self, kind: &str, value: &str) -> String {
        let mut mac = self.mac.clone();
        // The kind is in the MAC input so a user and a device of the same
        // name get unrelated pseudonyms.
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(kind.len() + 1 + PSEUDONYM_HEX_DIGITS);
        out.push_str(kind);
        out.push(':');
        for b in tag.iter().take(PSEUDONYM_HEX_DIGITS / 2) {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Rewrite a native event in place.
    pub fn apply(&self, event: &mut Value) {
        let mut replaced = Vec::new();
        for path in &self.user_fields {
            self.replace_at(event, path, "user", &mut replaced);
        }
        for path in &self.device_fields {
            self.replace_at(event, path, "device", &mut replaced);
        }
        for path in &self.remove_fields {
            remove_at(event, path);
        }
        // Detection's reasons and evidence name the identities in their
        // text ("alice's issued laptop", "rdp:alice, rdp:bob"): the same
        // names get the same pseudonyms there.
        scrub_text(event, &mut replaced, 0);
        self.round_coordinates(event, 0);
    }

    fn replace_at(
        &self,
        event: &mut Value,
        path: &[String],
        kind: &str,
        replaced: &mut Vec<(String, String)>,
    ) {
        let Some(slot) = lookup_mut(event, path) else {
            return;
        };
        let mut swap = |s: &mut String| {
            let p = self.pseudonym(kind, s);
            if s.len() >= MIN_SCRUBBED_LEN {
                replaced.push((std::mem::take(s), p.clone()));
            }
            *s = p;
        };
        match slot {
            Value::String(s) => swap(s),
            Value::Array(items) => {
                for it in items {
                    if let Value::String(s) = it {
                        swap(s);
                    }
                }
            }
            Value::Null => {}
            other => *other = Value::String(self.pseudonym(kind, &other.to_string())),
        }
    }

    fn round_coordinates(&self, v: &mut Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if matches!(k.as_str(), "lat" | "lon") {
                        if let Some(x) = child.as_f64() {
                            let r = (x * self.scale).round() / self.scale;
                            if let Some(n) = serde_json::Number::from_f64(r) {
                                *child = Value::Number(n);
                            }
                        }
                    } else {
                        self.round_coordinates(child, depth + 1);
                    }
                }
            }
            Value::Array(items) => {
                for it in items {
                    self.round_coordinates(it, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// Shortest name replaced inside free text (shorter ones would hit
/// ordinary words).
const MIN_SCRUBBED_LEN: usize = 3;

/// Replace every pseudonymised name inside the event's other strings,
/// longest first (so `rdp:alice` goes whole before `alice`).
fn scrub_text(v: &mut Value, pairs: &mut Vec<(String, String)>, depth: usize) {
    if pairs.is_empty() || depth > MAX_DEPTH {
        return;
    }
    if depth == 0 {
        pairs.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        pairs.dedup_by(|a, b| a.0 == b.0);
    }
    match v {
        Value::String(s) => {
            for (from, to) in pairs.iter() {
                // A pseudonym already in place is left alone.
                if s != to && s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), to);
                }
            }
        }
        Value::Object(map) => {
            for child in map.values_mut() {
                scrub_text(child, pairs, depth + 1);
            }
        }
        Value::Array(items) => {
            for it in items {
                scrub_text(it, pairs, depth + 1);
            }
        }
        _ => {}
    }
}

fn lookup_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(v, |cur, key| cur.get_mut(key.as_str()))
}

fn remove_at(v: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    if let Some(Value::Object(map)) = lookup_mut(v, parent) {
        map.remove(last.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PrivacyConfig {
        toml::from_str("key = \"0123456789abcdef-site-a\"\nremove_fields = [\"geo.city\"]")
            .expect("privacy config")
    }

    /// RFC 4231 §4.2 test case 1: HMAC-SHA256(0x0b * 20, "Hi There") starts
    /// b0344c61d8db3853; our pseudonym is those digits when kind and
    /// separator are left out, which we check through the `hmac` crate the
    /// same way we use it.
    #[test]
    fn hmac_matches_rfc4231() {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[0x0b; 20]).expect("key");
        mac.update(b"Hi There");
        let tag = mac.finalize().into_bytes();
        assert_eq!(
            tag.get(..8),
            Some(&[0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53][..])
        );
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_shaped() {
        let p = Pseudonymiser::new(&cfg(), b"0123456789abcdef-site-a").expect("key");
        let q = Pseudonymiser::new(&cfg(), b"0123456789abcdef-site-b").expect("key");
        let a = p.pseudonym("user", "alice");
        assert_eq!(a, p.pseudonym("user", "alice"));
        assert_ne!(a, q.pseudonym("user", "alice"));
        assert_ne!(a, p.pseudonym("device", "alice").replace("device", "user"));
        assert!(a.starts_with("user:"));
        assert_eq!(a.len(), 5 + 16);
        assert!(a[5..].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn apply_rewrites_names_locations_and_removals() {
        let p = Pseudonymiser::new(&cfg(), b"0123456789abcdef-site-a").expect("key");
        let mut ev: Value = serde_json::from_str(
            r#"{"event_type":"session","rdp":{"cookie":"bob","client_name":"LAPTOP-7"},
                "geo":{"lat":45.4642,"lon":9.19,"city":"Milan","country_iso":"IT"}}"#,
        )
        .expect("json");
        p.apply(&mut ev);
        assert_eq!(ev["rdp"]["cookie"], p.pseudonym("user", "bob"));
        assert_eq!(ev["rdp"]["client_name"], p.pseudonym("device", "LAPTOP-7"));
        assert_eq!(ev["geo"]["lat"], 45.5);
        assert_eq!(ev["geo"]["lon"], 9.2);
        assert!(ev["geo"].get("city").is_none());
        assert_eq!(ev["geo"]["country_iso"], "IT");
    }

    #[test]
    fn detection_text_gets_the_same_pseudonyms_as_the_fields() {
        let p = Pseudonymiser::new(&cfg(), b"0123456789abcdef-site-a").expect("key");
        let mut ev: Value = serde_json::from_str(
            r#"{"event_type":"alert","rdp":{"cookie":"carol"},
                "identity":{"name":"rdp:carol","matched_by":"rdp_user"},
                "related_identities":["rdp:alice","rdp:bob"],
                "alert":{"reason":"3 different identities (rdp:alice, rdp:bob, rdp:carol) connected",
                         "evidence":[{"name":"identities","value":["rdp:alice","rdp:bob","rdp:carol"]}]}}"#,
        )
        .expect("json");
        p.apply(&mut ev);
        let carol = p.pseudonym("user", "rdp:carol");
        assert_eq!(ev["identity"]["name"], carol);
        assert_eq!(ev["rdp"]["cookie"], p.pseudonym("user", "carol"));
        let reason = ev["alert"]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&carol) && !reason.contains("carol"),
            "{reason}"
        );
        assert_eq!(ev["alert"]["evidence"][0]["value"][2], carol);
        let alice = p.pseudonym("user", "rdp:alice");
        assert_eq!(ev["related_identities"][0], alice);
        assert_eq!(ev["alert"]["evidence"][0]["value"][0], alice);
        assert!(
            !reason.contains("alice") && !reason.contains("bob"),
            "{reason}"
        );
    }
}

//! Findings: what one rule concluded about one session, with the measured
//! values it rests on and a sentence an analyst can read.

use serde::Serialize;

/// How bad a finding (or an alert) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity a session's total score stands for.
    pub fn of_score(score: u32) -> Severity {
        match score {
            0..=39 => Severity::Low,
            40..=69 => Severity::Medium,
            70..=89 => Severity::High,
            _ => Severity::Critical,
        }
    }
}

/// The rules, with their stable ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    UnexpectedGeography,
    AnonymizerExit,
    SharedEgress,
    ImpossibleTravel,
    LatencyGeographyMismatch,
    RelayedSession,
    TunnelIndicators,
    RemoteControlTool,
    OffHours,
    UnknownIdentity,
}

impl RuleId {
    pub const ALL: [RuleId; 10] = [
        RuleId::UnexpectedGeography,
        RuleId::AnonymizerExit,
        RuleId::SharedEgress,
        RuleId::ImpossibleTravel,
        RuleId::LatencyGeographyMismatch,
        RuleId::RelayedSession,
        RuleId::TunnelIndicators,
        RuleId::RemoteControlTool,
        RuleId::OffHours,
        RuleId::UnknownIdentity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::UnexpectedGeography => "unexpected_geography",
            RuleId::AnonymizerExit => "anonymizer_exit",
            RuleId::SharedEgress => "shared_egress",
            RuleId::ImpossibleTravel => "impossible_travel",
            RuleId::LatencyGeographyMismatch => "latency_geography_mismatch",
            RuleId::RelayedSession => "relayed_session",
            RuleId::TunnelIndicators => "tunnel_indicators",
            RuleId::RemoteControlTool => "remote_control_tool",
            RuleId::OffHours => "off_hours",
            RuleId::UnknownIdentity => "unknown_identity",
        }
    }

    pub fn parse(s: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Default severity and score contribution. The score says how much
    /// the finding alone moves the session toward an alert (the default
    /// `alerts.min_score` is 40): the laptop-farm, relay and physics signals
    /// alert on their own; supporting evidence (`tunnel_indicators`) does
    /// not.
    pub fn defaults(self) -> (Severity, u32) {
        match self {
            RuleId::UnexpectedGeography => (Severity::Medium, 40),
            RuleId::AnonymizerExit => (Severity::High, 50),
            RuleId::SharedEgress => (Severity::High, 70),
            RuleId::ImpossibleTravel => (Severity::High, 60),
            RuleId::LatencyGeographyMismatch => (Severity::High, 50),
            RuleId::RelayedSession => (Severity::High, 60),
            RuleId::TunnelIndicators => (Severity::Low, 30),
            RuleId::RemoteControlTool => (Severity::High, 60),
            RuleId::OffHours => (Severity::Medium, 40),
            RuleId::UnknownIdentity => (Severity::Medium, 40),
        }
    }
}

/// One measured value a finding rests on, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub name: &'static str,
    pub value: serde_json::Value,
    /// `tcp_handshake`, `geoip_city`, `geoip_anonymous_ip`, `site_list`,
    /// `catalogue`, `policy`, `history`...
    pub source: &'static str,
}

/// What one rule concluded about one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    pub score: u32,
    pub reason: String,
    pub evidence: Vec<Evidence>,
    /// Other identities the finding names (written once per event as
    /// `related_identities`, which the output privacy settings
    /// pseudonymise, and with them every mention in the text).
    #[serde(skip)]
    pub related: Vec<String>,
}

impl Finding {
    pub fn new(rule: RuleId, severity: Severity, score: u32, reason: String) -> Finding {
        Finding {
            rule,
            severity,
            score,
            reason,
            evidence: Vec::new(),
            related: Vec::new(),
        }
    }

    pub fn with(
        mut self,
        name: &'static str,
        value: impl Into<serde_json::Value>,
        source: &'static str,
    ) -> Finding {
        self.evidence.push(Evidence {
            name,
            value: value.into(),
            source,
        });
        self
    }
}

/// A session's score: the findings' contributions, capped at 100.
pub fn total_score(findings: &[Finding]) -> u32 {
    findings.iter().map(|f| f.score).sum::<u32>().min(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_round_trip_and_score_bands_follow_the_documented_cut_offs() {
        for r in RuleId::ALL {
            assert_eq!(RuleId::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(Severity::of_score(39), Severity::Low);
        assert_eq!(Severity::of_score(40), Severity::Medium);
        assert_eq!(Severity::of_score(70), Severity::High);
        assert_eq!(Severity::of_score(90), Severity::Critical);
        let f = |s| Finding::new(RuleId::OffHours, Severity::Low, s, String::new());
        assert_eq!(total_score(&[f(70), f(60)]), 100);
        assert_eq!(total_score(&[f(20), f(25)]), 45);
    }
}

//! `[[outputs.sinks]]` configuration: what each sink receives, in which
//! format, and its own settings. Flat per sink (one table, a `type` key) so
//! it reads naturally in TOML; unknown keys are rejected by serde, and
//! [`OutputsConfig::validate`] names the field of every bad value
//! (`sinks[2] "siem": url: ...`).

use std::path::PathBuf;

use serde::Deserialize;

/// All sinks and the privacy settings they share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    /// The sinks, each fed its own copy of every event it subscribes to.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Pseudonymisation key and fields; used by sinks with `privacy = true`.
    #[serde(default)]
    pub privacy: Option<PrivacyConfig>,
}

/// What kind of sink a `[[sinks]]` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkType {
    File,
    Stdout,
    Syslog,
    Http,
}

/// How each event is rewritten before it leaves (see docs/outputs.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The EVE-compatible line as the engine wrote it.
    #[default]
    Native,
    /// Elastic Common Schema.
    Ecs,
    /// Open Cybersecurity Schema Framework.
    Ocsf,
}

/// The body style of an HTTP sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpBody {
    /// Plain NDJSON: one event per line.
    #[default]
    Ndjson,
    /// Splunk HTTP Event Collector: `{"event":...,"sourcetype":...}` per line.
    SplunkHec,
    /// Elasticsearch `_bulk`: an `{"create":{...}}` action line before each event.
    ElasticBulk,
}

/// The transport of a syslog sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransport {
    /// RFC 5426: one message per datagram.
    #[default]
    Udp,
    /// RFC 6587 §3.4.1 octet counting.
    Tcp,
    /// A local datagram socket such as `/dev/log` (rsyslog imuxsock, journald).
    Unix,
}

/// One sink. Only the keys of its `type` may be set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    #[serde(rename = "type")]
    pub kind: SinkType,
    /// Name in stats and logs; defaults to the type and the position.
    #[serde(default)]
    pub name: Option<String>,
    /// Event types this sink receives (`flow`, `session`, `alert`, ...);
    /// empty: all of them.
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub format: Format,
    /// Pseudonymise personal data ([`PrivacyConfig`]) in what this sink sends.
    #[serde(default)]
    pub privacy: bool,
    /// Events waiting for this sink; beyond it `send` drops and counts.
    #[serde(default)]
    pub queue_capacity: Option<usize>,

    // --- file ---
    pub path: Option<PathBuf>,
    /// Rotate when the file would grow past this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Rotate when the file is this old (seconds).
    pub rotate_secs: Option<u64>,
    /// Rotated files kept (`eve.json.1` .. `eve.json.N`); older ones deleted.
    pub rotate_keep: Option<u32>,

    // --- syslog ---
    pub transport: Option<SyslogTransport>,
    /// `host:port` for UDP/TCP, a socket path for `unix`.
    pub address: Option<String>,
    /// RFC 5424 §6.2.1 facility number (0-23); default 16 (local0).
    pub facility: Option<u8>,
    pub app_name: Option<String>,
    pub hostname: Option<String>,
    /// Larger messages are not sent (counted as failed); default 65000 for
    /// UDP and Unix, 1 MiB for TCP.
    pub max_message_bytes: Option<usize>,

    // --- http ---
    pub url: Option<String>,
    pub body: Option<HttpBody>,
    /// Splunk HEC token (sent as `Authorization: Splunk TOKEN`).
    pub token: Option<String>,
    /// Any other `Authorization` header value (`ApiKey ...`, `Basic ...`).
    pub authorization: Option<String>,
    /// Elasticsearch index / Splunk index.
    pub index: Option<String>,
    /// Splunk sourcetype; default `gatewatch:<event_type>`.
    pub sourcetype: Option<String>,
    pub batch_events: Option<usize>,
    pub batch_bytes: Option<usize>,
    pub batch_millis: Option<u64>,
    pub timeout_secs: Option<u64>,
    /// Attempts per batch before it goes to the spool.
    pub retries: Option<u32>,
    pub backoff_millis: Option<u64>,
    pub backoff_max_millis: Option<u64>,
    /// Directory of the on-disk spool; without it, undeliverable batches are
    /// kept in memory only up to `memory_batches` and then dropped.
    pub spool_dir: Option<PathBuf>,
    pub spool_max_bytes: Option<u64>,
    /// Spooled batches older than this are deleted (retention) and counted dropped.
    pub spool_max_age_secs: Option<u64>,
    pub memory_batches: Option<usize>,
}

/// Pseudonymisation of personal data in exported events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// The site key (at least 16 bytes), inline...
    #[serde(default)]
    pub key: Option<String>,
    /// ... or read from a file (trailing newline ignored).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Dotted paths of user names in native events.
    #[serde(default = "default_user_fields")]
    pub user_fields: Vec<String>,
    /// Dotted paths of device (host) names.
    #[serde(default = "default_device_fields")]
    pub device_fields: Vec<String>,
    /// Decimal places kept of `lat`/`lon` (1: about 11 km).
    #[serde(default = "default_location_decimals")]
    pub location_decimals: u8,
    /// Dotted paths of fields removed as too precise (e.g. `geo.city`).
    #[serde(default)]
    pub remove_fields: Vec<String>,
}

fn default_user_fields() -> Vec<String> {
    [
        "rdp.cookie",
        "rdp.user",
        "ssh.user",
        "http.user",
        "user",
        "identity.name",
        "related_identities",
        "remote_access.identity",
    ]
    .map(String::from)
    .to_vec()
}

fn default_device_fields() -> Vec<String> {
    [
        "rdp.client_name",
        "rdp.hostname",
        "dhcp.hostname",
        "dhcp.client_id",
        "hostname",
    ]
    .map(String::from)
    .to_vec()
}

fn default_location_decimals() -> u8 {
    1
}

/// A configuration value that cannot work, with the field it is in.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {field}: {message}")]
pub struct ConfigError {
    /// `sinks[0] "flows"` or `privacy`.
    pub location: String,
    pub field: &'static str,
    pub message: String,
}

impl SinkConfig {
    /// The sink's name in stats: `name`, or `<type>#<index>`.
    pub fn display_name(&self, index: usize) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{:?}#{index}", self.kind).to_lowercase(),
        }
    }

    /// Whether a line of `event_type` goes to this sink.
    pub fn accepts(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}

impl OutputsConfig {
    /// Check every value; the first problem found, naming its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(p) = &self.privacy {
            p.validate()?;
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            let loc = format!("sinks[{i}] \"{}\"", s.display_name(i));
            let err = |field, message: &str| ConfigError {
                location: loc.clone(),
                field,
                message: message.to_owned(),
            };
            if !names.insert(s.display_name(i)) {
                return Err(err("name", "another sink has this name"));
            }
            if s.privacy && self.privacy.is_none() {
                return Err(err("privacy", "needs a [privacy] section with a key"));
            }
            if s.queue_capacity == Some(0) {
                return Err(err("queue_capacity", "must be at least 1"));
            }
            if s.event_types.iter().any(|t| t.is_empty()) {
                return Err(err("event_types", "empty event type"));
            }
            validate_kind(s).map_err(|(field, m)| err(field, &m))?;
        }
        Ok(())
    }
}

type FieldProblem = (&'static str, String);

/// The keys that belong to each sink type, and their values.
fn validate_kind(s: &SinkConfig) -> Result<(), FieldProblem> {
    let file_keys = [
        ("path", s.path.is_some()),
        ("rotate_bytes", s.rotate_bytes.is_some()),
        ("rotate_secs", s.rotate_secs.is_some()),
        ("rotate_keep", s.rotate_keep.is_some()),
    ];
    let syslog_keys = [
        ("transport", s.transport.is_some()),
        ("address", s.address.is_some()),
        ("facility", s.facility.is_some()),
        ("app_name", s.app_name.is_some()),
        ("hostname", s.hostname.is_some()),
        ("max_message_bytes", s.max_message_bytes.is_some()),
    ];
    let http_keys = [
        ("url", s.url.is_some()),
        ("body", s.body.is_some()),
        ("token", s.token.is_some()),
        ("authorization", s.authorization.is_some()),
        ("index", s.index.is_some()),
        ("sourcetype", s.sourcetype.is_some()),
        ("batch_events", s.batch_events.is_some()),
        ("batch_bytes", s.batch_bytes.is_some()),
        ("batch_millis", s.batch_millis.is_some()),
        ("timeout_secs", s.timeout_secs.is_some()),
        ("retries", s.retries.is_some()),
        ("backoff_millis", s.backoff_millis.is_some()),
        ("backoff_max_millis", s.backoff_max_millis.is_some()),
        ("spool_dir", s.spool_dir.is_some()),
        ("spool_max_bytes", s.spool_max_bytes.is_some()),
        ("spool_max_age_secs", s.spool_max_age_secs.is_some()),
        ("memory_batches", s.memory_batches.is_some()),
    ];
    let foreign = |groups: &[&[(&'static str, bool)]]| -> Result<(), FieldProblem> {
        for g in groups {
            if let Some((k, _)) = g.iter().find(|(_, set)| *set) {
                return Err((k, format!("not a setting of a {:?} sink", s.kind)));
            }
        }
        Ok(())
    };
    match s.kind {
        SinkType::Stdout => foreign(&[&file_keys, &syslog_keys, &http_keys]),
        SinkType::File => {
            foreign(&[&syslog_keys, &http_keys])?;
            validate_file(s)
        }
        SinkType::Syslog => {
            foreign(&[&file_keys, &http_keys])?;
            validate_syslog(s)
        }
        SinkType::Http => {
            foreign(&[&file_keys, &syslog_keys])?;
            validate_http(s)
        }
    }
}

fn validate_file(s: &SinkConfig) -> Result<(), FieldProblem> {
    match &s.path {
        None => return Err(("path", "required for a file sink".into())),
        Some(p) if p.as_os_str().is_empty() => return Err(("path", "empty".into())),
        Some(_) => {}
    }
    if s.rotate_bytes == Some(0) {
        return Err(("rotate_bytes", "must be at least 1".into()));
    }
    if s.rotate_secs == Some(0) {
        return Err(("rotate_secs", "must be at least 1".into()));
    }
    Ok(())
}

fn validate_syslog(s: &SinkConfig) -> Result<(), FieldProblem> {
    let Some(addr) = &s.address else {
        return Err(("address", "required for a syslog sink".into()));
    };
    if s.transport.unwrap_or_default() != SyslogTransport::Unix
        && addr.parse::<std::net::SocketAddr>().is_err()
        && !addr.contains(':')
    {
        return Err(("address", format!("{addr:?} is not host:port")));
    }
    if s.facility.is_some_and(|f| f > 23) {
        return Err(("facility", "RFC 5424 §6.2.1 facilities are 0-23".into()));
    }
    // RFC 5424 §6.2: APP-NAME is 1*48 PRINTUSASCII, HOSTNAME 1*255.
    if let Some(a) = &s.app_name {
        if a.is_empty() || a.len() > 48 || !a.bytes().all(|b| (33..=126).contains(&b)) {
            return Err((
                "app_name",
                "1-48 printable ASCII characters, no space".into(),
            ));
        }
    }
    if let Some(h) = &s.hostname {
        if h.is_empty() || h.len() > 255 || !h.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(("hostname", "1-255 printable ASCII characters".into()));
        }
    }
    if s.max_message_bytes.is_some_and(|m| m < 480) {
        return Err(("max_message_bytes", "RFC 5426 §3.2: at least 480".into()));
    }
    Ok(())
}

fn validate_http(s: &SinkConfig) -> Result<(), FieldProblem> {
    let Some(url) = &s.url else {
        return Err(("url", "required for an http sink".into()));
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err((
            "url",
            format!("{url:?} must start with http:// or https://"),
        ));
    }
    if s.body == Some(HttpBody::SplunkHec) && s.token.is_none() && s.authorization.is_none() {
        return Err(("token", "splunk_hec needs the HEC token".into()));
    }
    if s.token.is_some() && s.authorization.is_some() {
        return Err(("authorization", "set either token or authorization".into()));
    }
    for (field, v) in [
        ("batch_events", s.batch_events.map(|v| v as u64)),
        ("batch_bytes", s.batch_bytes.map(|v| v as u64)),
        ("batch_millis", s.batch_millis),
        ("timeout_secs", s.timeout_secs),
        ("spool_max_bytes", s.spool_max_bytes),
        ("spool_max_age_secs", s.spool_max_age_secs),
        ("memory_batches", s.memory_batches.map(|v| v as u64)),
    ] {
        if v == Some(0) {
            return Err((field, "must be at least 1".into()));
        }
    }
    if s.spool_dir.is_none() && (s.spool_max_bytes.is_some() || s.spool_max_age_secs.is_some()) {
        return Err(("spool_dir", "spool limits are set but no spool_dir".into()));
    }
    Ok(())
}

impl PrivacyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, message: &str| ConfigError {
            location: "privacy".into(),
            field,
            message: message.into(),
        };
        match (&self.key, &self.key_file) {
            (Some(_), Some(_)) => return Err(err("key_file", "set either key or key_file")),
            (None, None) => return Err(err("key", "a key or key_file is required")),
            (Some(k), None) if k.len() < 16 => {
                return Err(err("key", "at least 16 bytes (a random site secret)"))
            }
            _ => {}
        }
        if self.location_decimals > 6 {
            return Err(err("location_decimals", "at most 6"));
        }
        Ok(())
    }

    /// The key bytes: inline, or the file's content without trailing whitespace.
    pub fn load_key(&self) -> Result<Vec<u8>, ConfigError> {
        let err = |field, message: String| ConfigError {
            location: "privacy".into(),
            field,
            message,
        };
        if let Some(k) = &self.key {
            return Ok(k.as_bytes().to_vec());
        }
        let Some(path) = &self.key_file else {
            return Err(err("key", "a key or key_file is required".into()));
        };
        let raw =
            std::fs::read(path).map_err(|e| err("key_file", format!("{}: {e}", path.display())))?;
        let end = raw
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |p| p + 1);
        let key = raw.get(..end).unwrap_or_default().to_vec();
        if key.len() < 16 {
            return Err(err("key_file", "key shorter than 16 bytes".into()));
        }
        Ok(key)
    }
}

//! Builds the project's demo MaxMind DB files (`geoip/*.mmdb`) from its own
//! JSON source data (`geoip/source/*.json`).
//!
//! One source file makes one database:
//!
//! ```json
//! {"metadata": {"database_type": "GeoLite2-ASN", "description": {"en": "..."},
//!               "languages": ["en"], "build_epoch": 1767225600},
//!  "networks": [{"network": "8.8.8.0/24", "_comment": "why",
//!                "data": {"autonomous_system_number": 15169, ...}}]}
//! ```
//!
//! Records keep MaxMind's GeoIP2/GeoLite2 layout so any GeoIP2 reader reads
//! the files. JSON has one number type and MMDB several, so each numeric
//! field's MMDB type is fixed by its name (as MaxMind's own test-data writer
//! does): `geoname_id` is a uint32, `accuracy_radius` a uint16, and so on.
//! The output is reproducible: the build epoch comes from the source, the
//! record size is pinned to 28 bits and the writer lays data out
//! deterministically, so the same source gives byte-identical files.
//!
//! Every error names the source file and the JSON path that was wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use ipnet::IpNet;
use mmdb_writer::{IpVersion, Ipv4Aliasing, RecordSize, Value, Writer};
use serde_json::{Map, Value as Json};

/// Largest source file read: the demo sources are a few tens of KiB; this
/// only stops a wrong path (a disk image, a device) from being slurped.
pub const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// The MMDB record size the demo databases use (bits).
pub const RECORD_SIZE_BITS: u64 = 28;

/// Key of a free-text comment; allowed beside `metadata`, `networks`, inside
/// `metadata` and beside each network's `data` (never inside `data`, whose
/// keys all go into the database).
const COMMENT_KEY: &str = "_comment";

/// The connection types GeoIP2 Connection-Type databases use.
const CONNECTION_TYPES: [&str; 5] = ["Dialup", "Cable/DSL", "Corporate", "Cellular", "Satellite"];

/// The Anonymous-IP flags besides `is_anonymous`, which is true exactly when
/// one of these is.
const ANONYMOUS_FLAGS: [&str; 5] = [
    "is_anonymous_vpn",
    "is_hosting_provider",
    "is_public_proxy",
    "is_residential_proxy",
    "is_tor_exit_node",
];

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSummary {
    pub database_type: String,
    /// Networks inserted (as listed in the source).
    pub networks: usize,
    /// Size of the written file in bytes.
    pub bytes: usize,
    pub build_epoch: u64,
}

/// Why a build failed. The rendered message starts with the source (or
/// output) file name.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: larger than {MAX_SOURCE_BYTES} bytes; not a gatewatch GeoIP source")]
    TooLarge { file: String },
    #[error("{file}: not valid JSON: {msg}")]
    Json { file: String, msg: String },
    /// A field of the source is missing or wrong; `path` is a JSON path such
    /// as `networks[12].data.location.accuracy_radius`.
    #[error("{file}: {path}: {msg}")]
    Field {
        file: String,
        path: String,
        msg: String,
    },
    #[error("{file}: cannot write: {source}")]
    Write {
        file: String,
        source: std::io::Error,
    },
}

/// Which GeoIP2 database a source describes; fixes the checks on its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    City,
    Asn,
    AnonymousIp,
    ConnectionType,
}

impl Kind {
    fn from_database_type(t: &str) -> Option<Kind> {
        // MaxMind names end with the product: "GeoLite2-City", "GeoIP2-City".
        let product = t.split_once('-').map(|(_, p)| p)?;
        match product {
            "City" => Some(Kind::City),
            "ASN" => Some(Kind::Asn),
            "Anonymous-IP" => Some(Kind::AnonymousIp),
            "Connection-Type" => Some(Kind::ConnectionType),
            _ => None,
        }
    }
}

/// Metadata read from the source.
struct SourceMeta {
    database_type: String,
    kind: Kind,
    description: Vec<(String, String)>,
    languages: Vec<String>,
    build_epoch: u64,
}

/// Build the database described by `source` and write it to `out`
/// (through a temporary file beside it, renamed into place).
pub fn build_mmdb(source: &Path, out: &Path) -> Result<BuildSummary, BuildError> {
    let file = source.display().to_string();
    let json = read_source(source, &file)?;
    let (bytes, summary) = build_bytes(&file, &json)?;
    write_atomically(out, &bytes)?;
    Ok(summary)
}

/// Build a database from source JSON held in memory; `file` names the source
/// in error messages.
pub fn build_bytes(file: &str, json: &[u8]) -> Result<(Vec<u8>, BuildSummary), BuildError> {
    let doc: Json = serde_json::from_slice(json).map_err(|e| BuildError::Json {
        file: file.to_owned(),
        msg: e.to_string(),
    })?;
    let ctx = Ctx { file };
    let top = ctx.object(&doc, "$")?;
    ctx.only_keys(top, "$", &["metadata", "networks", COMMENT_KEY])?;
    let meta = ctx.metadata(ctx.required(top, "$", "metadata")?)?;
    let networks = ctx.array(ctx.required(top, "$", "networks")?, "networks")?;

    let mut entries = Vec::with_capacity(networks.len());
    let mut seen = BTreeSet::new();
    for (i, entry) in networks.iter().enumerate() {
        let path = format!("networks[{i}]");
        let (net, value) = ctx.network_entry(entry, &path, meta.kind)?;
        if !seen.insert(net) {
            return Err(ctx.err(format!("{path}.network"), format!("{net} is listed twice")));
        }
        entries.push((net, value, path));
    }
    // Broader networks first, so a more specific one nested in them wins
    // whatever the order of the source.
    entries.sort_by_key(|(net, _, _)| tree_prefix_len(net));

    let description: Vec<(&str, &str)> = meta
        .description
        .iter()
        .map(|(l, t)| (l.as_str(), t.as_str()))
        .collect();
    let mut writer = Writer::builder(meta.database_type.as_str())
        .languages(meta.languages.iter().map(String::as_str))
        .description(&description)
        .ip_version(IpVersion::V6)
        .record_size(RecordSize::Bits28)
        .ipv4_aliasing(Ipv4Aliasing::Enabled)
        .build_epoch(UNIX_EPOCH + Duration::from_secs(meta.build_epoch))
        .build();
    for (net, value, path) in entries {
        writer
            .insert_value(net, value)
            .map_err(|e| ctx.err(format!("{path}.network"), e.to_string()))?;
    }
    let bytes = writer
        .to_bytes()
        .map_err(|e| ctx.err("$".into(), format!("the writer failed: {e}")))?;
    let summary = BuildSummary {
        database_type: meta.database_type,
        networks: seen.len(),
        bytes: bytes.len(),
        build_epoch: meta.build_epoch,
    };
    Ok((bytes, summary))
}

fn read_source(source: &Path, file: &str) -> Result<Vec<u8>, BuildError> {
    let read_err = |source| BuildError::Read {
        file: file.to_owned(),
        source,
    };
    let f = fs::File::open(source).map_err(read_err)?;
    let mut buf = Vec::new();
    f.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() as u64 > MAX_SOURCE_BYTES {
        return Err(BuildError::TooLarge {
            file: file.to_owned(),
        });
    }
    Ok(buf)
}

fn write_atomically(out: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let write_err = |source| BuildError::Write {
        file: out.display().to_string(),
        source,
    };
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    fs::write(&tmp, bytes).map_err(write_err)?;
    fs::rename(&tmp, out).map_err(write_err)
}

/// Prefix length of `net` in the IPv6 tree (IPv4 sits under `::/96`).
fn tree_prefix_len(net: &IpNet) -> u8 {
    match net {
        IpNet::V4(v4) => v4.prefix_len().saturating_add(96),
        IpNet::V6(v6) => v6.prefix_len(),
    }
}

/// The MMDB type of a numeric field, fixed by the field's name as in
/// MaxMind's databases.
#[derive(Debug, Clone, Copy)]
enum NumType {
    U16,
    U32,
    Double,
}

fn num_type(key: &str) -> Option<NumType> {
    match key {
        "geoname_id" | "autonomous_system_number" | "population_density" => Some(NumType::U32),
        "accuracy_radius" | "metro_code" | "confidence" | "average_income" => Some(NumType::U16),
        "latitude" | "longitude" => Some(NumType::Double),
        _ => None,
    }
}

/// The source file being read, for error messages.
struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, path: String, msg: String) -> BuildError {
        BuildError::Field {
            file: self.file.to_owned(),
            path,
            msg,
        }
    }

    fn object<'j>(&self, v: &'j Json, path: &str) -> Result<&'j Map<String, Json>, BuildError> {
        v.as_object().ok_or_else(|| {
            self.err(
                path.into(),
                format!("expected an object, found {}", kind_of(v)),
            )
        })
    }

    fn array<'j>(&self, v: &'j Json, path: &str) -> Result<&'j Vec<Json>, BuildError> {
        v.as_array().ok_or_else(|| {
            self.err(
                path.into(),
                format!("expected an array, found {}", kind_of(v)),
            )
        })
    }

    fn string<'j>(&self, v: &'j Json, path: &str) -> Result<&'j str, BuildError> {
        v.as_str().ok_or_else(|| {
            self.err(
                path.into(),
                format!("expected a string, found {}", kind_of(v)),
            )
        })
    }

    fn required<'j>(
        &self,
        obj: &'j Map<String, Json>,
        path: &str,
        key: &str,
    ) -> Result<&'j Json, BuildError> {
        obj.get(key)
            .ok_or_else(|| self.err(join(path, key), "missing".into()))
    }

    fn only_keys(
        &self,
        obj: &Map<String, Json>,
        path: &str,
        allowed: &[&str],
    ) -> Result<(), BuildError> {
        match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(self.err(
                join(path, k),
                format!("unknown field; expected one of {}", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn metadata(&self, v: &Json) -> Result<SourceMeta, BuildError> {
        let path = "metadata";
        let m = self.object(v, path)?;
        self.only_keys(
            m,
            path,
            &[
                "database_type",
                "description",
                "languages",
                "build_epoch",
                "ip_version",
                "record_size",
                COMMENT_KEY,
            ],
        )?;
        let database_type = self.string(
            self.required(m, path, "database_type")?,
            "metadata.database_type",
        )?;
        let kind = Kind::from_database_type(database_type).ok_or_else(|| {
            self.err(
                "metadata.database_type".into(),
                format!(
                    "{database_type:?} is not a type the builder knows \
                     (*-City, *-ASN, *-Anonymous-IP, *-Connection-Type)"
                ),
            )
        })?;
        let desc = self.object(
            self.required(m, path, "description")?,
            "metadata.description",
        )?;
        let mut description = Vec::with_capacity(desc.len());
        for (lang, text) in desc {
            let p = format!("metadata.description.{lang}");
            description.push((lang.clone(), self.string(text, &p)?.to_owned()));
        }
        let languages = match m.get("languages") {
            None => vec!["en".to_owned()],
            Some(v) => {
                let mut langs = Vec::new();
                for (i, l) in self.array(v, "metadata.languages")?.iter().enumerate() {
                    langs.push(
                        self.string(l, &format!("metadata.languages[{i}]"))?
                            .to_owned(),
                    );
                }
                langs
            }
        };
        let epoch_path = "metadata.build_epoch";
        let epoch = self.required(m, path, "build_epoch")?;
        let build_epoch = epoch.as_u64().ok_or_else(|| {
            self.err(
                epoch_path.into(),
                format!("{epoch} is not a Unix time in whole seconds"),
            )
        })?;
        self.fixed(m, "ip_version", 6)?;
        self.fixed(m, "record_size", RECORD_SIZE_BITS)?;
        Ok(SourceMeta {
            database_type: database_type.to_owned(),
            kind,
            description,
            languages,
            build_epoch,
        })
    }

    /// A metadata field the builder fixes; the source may state it, but only
    /// with the value the builder uses.
    fn fixed(&self, m: &Map<String, Json>, key: &str, want: u64) -> Result<(), BuildError> {
        match m.get(key) {
            Some(v) if v.as_u64() != Some(want) => Err(self.err(
                format!("metadata.{key}"),
                format!("{v}: the demo databases are built with {key} {want}"),
            )),
            _ => Ok(()),
        }
    }

    fn network_entry(
        &self,
        entry: &Json,
        path: &str,
        kind: Kind,
    ) -> Result<(IpNet, Value), BuildError> {
        let e = self.object(entry, path)?;
        self.only_keys(e, path, &["network", "data", COMMENT_KEY])?;
        let net_path = format!("{path}.network");
        let text = self.string(self.required(e, path, "network")?, &net_path)?;
        let net = self.cidr(text, &net_path)?;
        let data_path = format!("{path}.data");
        let data = self.object(self.required(e, path, "data")?, &data_path)?;
        self.check_record(data, &data_path, kind)?;
        let value = self.to_value(&Json::Object(data.clone()), &data_path, "")?;
        Ok((net, value))
    }

    fn cidr(&self, text: &str, path: &str) -> Result<IpNet, BuildError> {
        let net: IpNet = text
            .parse()
            .map_err(|_| self.err(path.into(), format!("{text:?} is not a CIDR")))?;
        if net.trunc() != net {
            return Err(self.err(
                path.into(),
                format!("{text:?} has host bits set; the network is {}", net.trunc()),
            ));
        }
        Ok(net)
    }

    /// Checks of a record's fields beyond their types: what a reader of
    /// this kind of database expects to find.
    fn check_record(
        &self,
        d: &Map<String, Json>,
        path: &str,
        kind: Kind,
    ) -> Result<(), BuildError> {
        match kind {
            Kind::City => self.check_city(d, path),
            Kind::Asn => {
                self.only_keys(
                    d,
                    path,
                    &["autonomous_system_number", "autonomous_system_organization"],
                )?;
                let n = self.required(d, path, "autonomous_system_number")?;
                if n.as_u64().is_none_or(|n| n == 0 || n > u64::from(u32::MAX)) {
                    return Err(self.err(
                        join(path, "autonomous_system_number"),
                        format!("{n} is not an AS number"),
                    ));
                }
                let org = self.required(d, path, "autonomous_system_organization")?;
                self.string(org, &join(path, "autonomous_system_organization"))?;
                Ok(())
            }
            Kind::AnonymousIp => self.check_anonymous(d, path),
            Kind::ConnectionType => {
                self.only_keys(d, path, &["connection_type"])?;
                let p = join(path, "connection_type");
                let t = self.string(self.required(d, path, "connection_type")?, &p)?;
                if !CONNECTION_TYPES.contains(&t) {
                    return Err(self.err(
                        p,
                        format!("{t:?} is not one of {}", CONNECTION_TYPES.join(", ")),
                    ));
                }
                Ok(())
            }
        }
    }

    fn check_city(&self, d: &Map<String, Json>, path: &str) -> Result<(), BuildError> {
        self.only_keys(
            d,
            path,
            &[
                "city",
                "continent",
                "country",
                "location",
                "postal",
                "registered_country",
                "subdivisions",
            ],
        )?;
        let continent_path = join(path, "continent");
        let continent = self.object(self.required(d, path, "continent")?, &continent_path)?;
        self.code(continent, &continent_path, "code", 2)?;
        let country_path = join(path, "country");
        let country = self.object(self.required(d, path, "country")?, &country_path)?;
        self.code(country, &country_path, "iso_code", 2)?;
        self.english_name(country, &country_path)?;
        if let Some(city) = d.get("city") {
            let p = join(path, "city");
            self.english_name(self.object(city, &p)?, &p)?;
        }
        if let Some(subs) = d.get("subdivisions") {
            let p = join(path, "subdivisions");
            for (i, s) in self.array(subs, &p)?.iter().enumerate() {
                let sp = format!("{p}[{i}]");
                let s = self.object(s, &sp)?;
                self.code(s, &sp, "iso_code", 3)?;
                self.english_name(s, &sp)?;
            }
        }
        let loc_path = join(path, "location");
        let loc = self.object(self.required(d, path, "location")?, &loc_path)?;
        self.in_range(loc, &loc_path, "latitude", -90.0, 90.0)?;
        self.in_range(loc, &loc_path, "longitude", -180.0, 180.0)?;
        self.in_range(loc, &loc_path, "accuracy_radius", 1.0, f64::from(u16::MAX))?;
        if let Some(tz) = loc.get("time_zone") {
            let p = join(&loc_path, "time_zone");
            if !self.string(tz, &p)?.contains('/') {
                return Err(self.err(p, format!("{tz} is not an IANA time zone name")));
            }
        }
        Ok(())
    }

    /// A code of at most `max_len` ASCII letters/digits, e.g. an ISO 3166 code.
    fn code(
        &self,
        obj: &Map<String, Json>,
        path: &str,
        key: &str,
        max_len: usize,
    ) -> Result<(), BuildError> {
        let p = join(path, key);
        let code = self.string(self.required(obj, path, key)?, &p)?;
        let ok = !code.is_empty()
            && code.len() <= max_len
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(self.err(p, format!("{code:?} is not a code of 1-{max_len} capitals")));
        }
        Ok(())
    }

    fn english_name(&self, obj: &Map<String, Json>, path: &str) -> Result<(), BuildError> {
        let names_path = join(path, "names");
        let names = self.object(self.required(obj, path, "names")?, &names_path)?;
        let en = self.required(names, &names_path, "en")?;
        self.string(en, &join(&names_path, "en"))?;
        Ok(())
    }

    fn in_range(
        &self,
        obj: &Map<String, Json>,
        path: &str,
        key: &str,
        lo: f64,
        hi: f64,
    ) -> Result<(), BuildError> {
        let v = self.required(obj, path, key)?;
        match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(()),
            _ => Err(self.err(
                join(path, key),
                format!("{v} is not a number in [{lo}, {hi}]"),
            )),
        }
    }

    fn check_anonymous(&self, d: &Map<String, Json>, path: &str) -> Result<(), BuildError> {
        let mut allowed = vec!["is_anonymous"];
        allowed.extend(ANONYMOUS_FLAGS);
        self.only_keys(d, path, &allowed)?;
        let mut any = false;
        for (k, v) in d {
            let b = v.as_bool().ok_or_else(|| {
                self.err(join(path, k), format!("expected true or false, found {v}"))
            })?;
            any |= b && k != "is_anonymous";
        }
        let p = join(path, "is_anonymous");
        let anonymous = self.required(d, path, "is_anonymous")?.as_bool() == Some(true);
        if anonymous != any {
            return Err(self.err(
                p,
                format!(
                    "is {anonymous} but must be true exactly when one of {} is",
                    ANONYMOUS_FLAGS.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Convert a JSON value to an MMDB value; `key` is the name of the field
    /// holding it (it fixes the type of numbers).
    fn to_value(&self, v: &Json, path: &str, key: &str) -> Result<Value, BuildError> {
        Ok(match v {
            Json::Null => {
                return Err(self.err(
                    path.into(),
                    "null has no MMDB form; leave the field out".into(),
                ))
            }
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) => Value::String(s.clone()),
            Json::Number(n) => self.number(n, path, key)?,
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.to_value(item, &format!("{path}[{i}]"), key)?);
                }
                Value::Array(out)
            }
            Json::Object(m) => {
                let mut out = BTreeMap::new();
                for (k, item) in m {
                    if k.starts_with('_') {
                        return Err(self.err(
                            join(path, k),
                            "comments go beside \"data\", not inside it".into(),
                        ));
                    }
                    out.insert(k.clone(), self.to_value(item, &join(path, k), k)?);
                }
                Value::Map(out)
            }
        })
    }

    fn number(&self, n: &serde_json::Number, path: &str, key: &str) -> Result<Value, BuildError> {
        let Some(ty) = num_type(key) else {
            return Err(self.err(
                path.into(),
                format!("no MMDB type is known for a number in field {key:?}"),
            ));
        };
        let bad = |what: &str| self.err(path.into(), format!("{n} is not {what}"));
        Ok(match ty {
            NumType::U16 => Value::U16(
                n.as_u64()
                    .and_then(|x| u16::try_from(x).ok())
                    .ok_or_else(|| bad("an unsigned 16-bit integer"))?,
            ),
            NumType::U32 => Value::U32(
                n.as_u64()
                    .and_then(|x| u32::try_from(x).ok())
                    .ok_or_else(|| bad("an unsigned 32-bit integer"))?,
            ),
            NumType::Double => Value::Double(n.as_f64().ok_or_else(|| bad("a number"))?),
        })
    }
}

fn join(path: &str, key: &str) -> String {
    if path == "$" {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASN_SOURCE: &str = r#"{
      "metadata": {"database_type": "GeoLite2-ASN", "description": {"en": "t"},
                   "languages": ["en"], "build_epoch": 1767225600},
      "networks": [
        {"network": "8.8.8.0/24", "data": {"autonomous_system_number": 15169,
                                           "autonomous_system_organization": "Google LLC"}},
        {"network": "2001:db8::/32", "data": {"autonomous_system_number": 64496,
                                              "autonomous_system_organization": "Doc"}}
      ]}"#;

    fn field_err(json: &str) -> (String, String) {
        match build_bytes("t.json", json.as_bytes()) {
            Err(BuildError::Field { path, msg, .. }) => (path, msg),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn builds_and_is_reproducible() {
        let (a, sum) = build_bytes("t.json", ASN_SOURCE.as_bytes()).unwrap();
        let (b, _) = build_bytes("t.json", ASN_SOURCE.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(sum.networks, 2);
        assert_eq!(sum.bytes, a.len());
        assert_eq!(sum.database_type, "GeoLite2-ASN");
        // The metadata marker the MMDB spec puts before the metadata map.
        assert!(a.windows(14).any(|w| w == b"\xab\xcd\xefMaxMind.com"));
    }

    #[test]
    fn bad_cidr_names_the_entry() {
        let src = ASN_SOURCE.replace("8.8.8.0/24", "10.0.0.0/33");
        let (path, msg) = field_err(&src);
        assert_eq!(path, "networks[0].network");
        assert_eq!(msg, "\"10.0.0.0/33\" is not a CIDR");
    }

    #[test]
    fn host_bits_are_refused() {
        let (path, msg) = field_err(&ASN_SOURCE.replace("8.8.8.0/24", "8.8.8.8/24"));
        assert_eq!(path, "networks[0].network");
        assert!(msg.contains("8.8.8.0/24"), "{msg}");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let src = ASN_SOURCE.replace("\"autonomous_system_number\": 64496,", "");
        assert_eq!(
            field_err(&src).0,
            "networks[1].data.autonomous_system_number"
        );
        let src = ASN_SOURCE.replace("15169", "-1");
        assert_eq!(
            field_err(&src).0,
            "networks[0].data.autonomous_system_number"
        );
        let src = ASN_SOURCE.replace("\"build_epoch\": 1767225600", "\"build_epoch\": \"x\"");
        assert_eq!(field_err(&src).0, "metadata.build_epoch");
        let src = ASN_SOURCE.replace("GeoLite2-ASN", "GeoLite2-Weather");
        assert_eq!(field_err(&src).0, "metadata.database_type");
    }

    #[test]
    fn duplicate_network_is_refused() {
        let src = ASN_SOURCE.replace("2001:db8::/32", "8.8.8.0/24");
        let (path, msg) = field_err(&src);
        assert_eq!(path, "networks[1].network");
        assert!(msg.contains("twice"), "{msg}");
    }

    #[test]
    fn anonymous_flag_must_match_the_others() {
        let src = r#"{"metadata": {"database_type": "GeoIP2-Anonymous-IP",
            "description": {"en": "t"}, "build_epoch": 1},
            "networks": [{"network": "192.0.2.0/24",
                          "data": {"is_anonymous": false, "is_tor_exit_node": true}}]}"#;
        assert_eq!(field_err(src).0, "networks[0].data.is_anonymous");
    }

    #[test]
    fn invalid_json_is_reported_with_the_file() {
        let err = build_bytes("geoip/source/x.json", b"{\"metadata\": ").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("geoip/source/x.json: not valid JSON"));
    }
}

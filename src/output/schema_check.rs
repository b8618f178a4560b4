//! A small JSON Schema (draft 2020-12) validator for the tests: just the
//! keywords our schemas use. It refuses any keyword it does not implement,
//! so a schema can never carry a constraint that silently goes unchecked.
//!
//! Implemented: `type` (string or array; `integer` means a JSON number with
//! no fraction), `properties`, `required`, `additionalProperties` (boolean or
//! schema), `items`, `minItems`, `maxItems`, `enum`, `const`, `minimum`,
//! `maximum`, `minLength`, `maxLength`, `$ref` to `#/$defs/NAME`, and
//! `format: "date-time"` (checked as our RFC 3339 UTC form with the
//! shape `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`). Annotations
//! (`$schema`, `$id`, `$defs`, `title`, `description`, `$comment`,
//! `examples`) are accepted and ignored.

use serde_json::Value;

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "title",
    "description",
    "$comment",
    "examples",
];

/// The schema of each event type, as shipped in `schema/`.
pub const EVENT_SCHEMAS: &[(&str, &str)] = &[
    ("flow", include_str!("../../schema/flow.json")),
    ("stats", include_str!("../../schema/stats.json")),
    ("session", include_str!("../../schema/session.json")),
    ("anomaly", include_str!("../../schema/anomaly.json")),
    ("alert", include_str!("../../schema/alert.json")),
];

/// Schemas whose `$defs` every event schema may use: the flow's parts (one
/// place for `geo`, `tcp`...) and the application parts.
pub const SHARED_DEFS: &[(&str, &str)] = &[
    ("flow.json", include_str!("../../schema/flow.json")),
    ("app.json", include_str!("../../schema/app.json")),
];

/// The schema of `kind` with the shared `$defs` merged in (its own
/// definitions win).
pub fn event_schema(kind: &str) -> Result<Value, String> {
    let (_, text) = EVENT_SCHEMAS
        .iter()
        .find(|(k, _)| *k == kind)
        .ok_or_else(|| format!("no schema for event_type {kind:?}"))?;
    let mut schema: Value =
        serde_json::from_str(text).map_err(|e| format!("schema/{kind}.json: {e}"))?;
    let root = schema
        .as_object_mut()
        .ok_or_else(|| format!("schema/{kind}.json: not an object"))?;
    let mut defs = root
        .remove("$defs")
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    for (file, text) in SHARED_DEFS {
        let shared: Value =
            serde_json::from_str(text).map_err(|e| format!("schema/{file}: {e}"))?;
        if let Some(d) = shared.get("$defs").and_then(Value::as_object) {
            for (name, def) in d {
                defs.entry(name.clone()).or_insert_with(|| def.clone());
            }
        }
    }
    root.insert("$defs".into(), Value::Object(defs));
    Ok(schema)
}

/// Validate one emitted JSON line against the schema of its `event_type`.
pub fn validate_event_line(line: &str) -> Result<(), String> {
    let event: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
    let kind = event
        .get("event_type")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no event_type: {line}"))?;
    let schema = event_schema(kind)?;
    validate(&schema, &event).map_err(|e| format!("{kind} event: {e}: {line}"))
}

/// Validate `instance` against `root`; the error names the JSON path.
pub fn validate(root: &Value, instance: &Value) -> Result<(), String> {
    check(root, root, instance, "$")
}

fn check(root: &Value, schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let obj = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{path}: not allowed here")),
        Value::Object(o) => o,
        _ => return Err(format!("{path}: schema is not an object")),
    };
    for (key, arg) in obj {
        match key.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "$ref" => {
                let name = arg
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .ok_or_else(|| format!("{path}: unsupported $ref {arg}"))?;
                let target = root
                    .get("$defs")
                    .and_then(|d| d.get(name))
                    .ok_or_else(|| format!("{path}: $ref to missing {name}"))?;
                check(root, target, v, path)?;
            }
            "type" => check_type(arg, v, path)?,
            "properties" => {
                let (Some(props), Some(o)) = (arg.as_object(), v.as_object()) else {
                    continue;
                };
                for (name, sub) in props {
                    if let Some(x) = o.get(name) {
                        check(root, sub, x, &format!("{path}.{name}"))?;
                    }
                }
            }
            "additionalProperties" => {
                let Some(o) = v.as_object() else { continue };
                let known = obj.get("properties").and_then(Value::as_object);
                for (name, x) in o {
                    if known.is_some_and(|k| k.contains_key(name)) {
                        continue;
                    }
                    check(root, arg, x, &format!("{path}.{name}"))
                        .map_err(|e| format!("{e} (additional property '{name}')"))?;
                }
            }
            "required" => {
                let Some(o) = v.as_object() else { continue };
                for name in arg.as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap_or("");
                    if !o.contains_key(name) {
                        return Err(format!("{path}: missing required '{name}'"));
                    }
                }
            }
            "items" => {
                let Some(a) = v.as_array() else { continue };
                for (i, x) in a.iter().enumerate() {
                    check(root, arg, x, &format!("{path}[{i}]"))?;
                }
            }
            "minItems" | "maxItems" => {
                let Some(a) = v.as_array() else { continue };
                let n = arg.as_u64().unwrap_or(0) as usize;
                let ok = if key == "minItems" {
                    a.len() >= n
                } else {
                    a.len() <= n
                };
                if !ok {
                    return Err(format!("{path}: {} items violates {key} {n}", a.len()));
                }
            }
            "minLength" | "maxLength" => {
                let Some(s) = v.as_str() else { continue };
                let n = arg.as_u64().unwrap_or(0) as usize;
                let len = s.chars().count();
                let ok = if key == "minLength" {
                    len >= n
                } else {
                    len <= n
                };
                if !ok {
                    return Err(format!("{path}: length {len} violates {key} {n}"));
                }
            }
            "enum" => {
                if !arg.as_array().is_some_and(|a| a.contains(v)) {
                    return Err(format!("{path}: {v} not in enum {arg}"));
                }
            }
            "const" => {
                if arg != v {
                    return Err(format!("{path}: {v} is not the constant {arg}"));
                }
            }
            "minimum" | "maximum" => {
                let (Some(x), Some(bound)) = (v.as_f64(), arg.as_f64()) else {
                    continue;
                };
                let ok = if key == "minimum" {
                    x >= bound
                } else {
                    x <= bound
                };
                if !ok {
                    return Err(format!("{path}: {v} violates {key} {arg}"));
                }
            }
            "format" => {
                if arg != "date-time" {
                    return Err(format!("{path}: unsupported format {arg}"));
                }
                if let Some(s) = v.as_str() {
                    if !is_rfc3339(s) {
                        return Err(format!("{path}: '{s}' is not an RFC 3339 date-time"));
                    }
                }
            }
            other => return Err(format!("{path}: schema keyword '{other}' not supported")),
        }
    }
    Ok(())
}

fn check_type(arg: &Value, v: &Value, path: &str) -> Result<(), String> {
    let matches = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    };
    let ok = match arg {
        Value::String(t) => matches(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(matches),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: {v} is not of type {arg}"))
    }
}

/// RFC 3339 §5.6 `date-time`, by shape and field ranges.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num =
        |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok()).unwrap_or(99);
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T') | Some(b't'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !shape || !(1..=12).contains(&num(5..7)) || !(1..=31).contains(&num(8..10)) {
        return false;
    }
    if num(11..13) > 23 || num(14..16) > 59 || num(17..19) > 60 {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z') | Some(b'z') => i + 1 == b.len(),
        Some(b'+') | Some(b'-') => {
            i + 6 == b.len()
                && digits(i + 1..i + 3)
                && b.get(i + 3) == Some(&b':')
                && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_shapes() {
        assert!(is_rfc3339("2023-08-23T21:20:48.335892Z"));
        assert!(is_rfc3339("2023-08-23T21:20:48+01:00"));
        // Suricata's own offset form has no colon: not RFC 3339.
        assert!(!is_rfc3339("2021-01-01T10:00:00.123456+0000"));
        assert!(!is_rfc3339("2023-13-23T21:20:48Z"));
        assert!(!is_rfc3339("2023-08-23 21:20:48Z"));
        assert!(!is_rfc3339("2023-08-23T21:20:48."));
    }

    #[test]
    fn validator_rejects_what_it_should() {
        let schema = json!({
            "type": "object",
            "required": ["a"],
            "additionalProperties": false,
            "properties": {
                "a": {"type": "integer", "minimum": 0},
                "b": {"type": "array", "items": {"enum": ["x", "y"]}, "maxItems": 2},
                "c": {"$ref": "#/$defs/c"}
            },
            "$defs": {"c": {"const": true}}
        });
        assert!(validate(&schema, &json!({"a": 1, "b": ["x"], "c": true})).is_ok());
        assert!(validate(&schema, &json!({"b": []})).is_err());
        assert!(validate(&schema, &json!({"a": -1})).is_err());
        assert!(validate(&schema, &json!({"a": 1.5})).is_err());
        assert!(validate(&schema, &json!({"a": 1, "z": 0})).is_err());
        assert!(validate(&schema, &json!({"a": 1, "b": ["z"]})).is_err());
        assert!(validate(&schema, &json!({"a": 1, "b": ["x", "y", "x"]})).is_err());
        assert!(validate(&schema, &json!({"a": 1, "c": false})).is_err());
        assert!(validate(&json!({"pattern": "x"}), &json!("x")).is_err());
    }
}

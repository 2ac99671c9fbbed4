//! The data a template sees, typed as skopeo's Go structs are typed — so that it prints as
//! Go prints it (`[a b]` for a slice, `map[k:v]` with sorted keys, `{a b}` for a struct).

use std::collections::BTreeMap;
use std::fmt::{self, Write};

/// One value of the template's data.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A slice.
    List(Vec<Value>),
    /// A map with string keys (Go prints and ranges over them sorted).
    Map(BTreeMap<String, Value>),
    /// A struct: fields in declaration order.
    Struct(Vec<(String, Value)>),
    /// A `time.Time`, kept as the RFC 3339 text it came from.
    Time(String),
    /// A `digest.Digest`: a string with `Algorithm`, `Encoded` and `Hex` methods.
    Digest(String),
    /// A nil pointer (prints `<nil>`).
    Nil,
    /// A missing map entry reached through a field (prints `<no value>`).
    Missing,
}

impl Value {
    /// Go's notion of truth: zero values and empty collections are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Str(s) | Value::Digest(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Bool(b) => *b,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) | Value::Time(_) => true,
            Value::Nil | Value::Missing => false,
        }
    }

    /// `.Name` applied to this value.
    pub fn field(&self, name: &str) -> Result<Value, String> {
        match self {
            Value::Struct(fields) => fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("can't evaluate field {name} in type {}", self.type_name())),
            Value::Map(m) => Ok(m.get(name).cloned().unwrap_or(Value::Missing)),
            Value::Digest(d) => {
                let (algorithm, encoded) = d.split_once(':').unwrap_or(("", d));
                match name {
                    "Algorithm" => Ok(Value::Str(algorithm.into())),
                    "Encoded" | "Hex" => Ok(Value::Str(encoded.into())),
                    "String" => Ok(Value::Str(d.clone())),
                    _ => Err(format!("can't evaluate field {name} in type digest.Digest")),
                }
            }
            Value::Nil => Err(format!("nil pointer evaluating .{name}")),
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            )),
        }
    }

    /// The Go type name used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]string",
            Value::Struct(_) => "struct",
            Value::Time(_) => "time.Time",
            Value::Digest(_) => "digest.Digest",
            Value::Nil | Value::Missing => "interface {}",
        }
    }

    /// Go's `json.Marshal`: compact, map keys sorted, `<`, `>` and `&` escaped.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Str(s) | Value::Time(s) | Value::Digest(s) => json_string(s, out),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Map(m) => write_object(m.iter().map(|(k, v)| (k.as_str(), v)), out),
            Value::Struct(f) => write_object(f.iter().map(|(k, v)| (k.as_str(), v)), out),
            Value::Nil | Value::Missing => out.push_str("null"),
        }
    }
}

fn write_object<'a>(entries: impl Iterator<Item = (&'a str, &'a Value)>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(k, out);
        out.push(':');
        v.write_json(out);
    }
    out.push('}');
}

fn json_string(s: &str, out: &mut String) {
    let encoded = serde_json::to_string(s).unwrap_or_default();
    for c in encoded.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
}

/// Go's `time.Time.String()` for an RFC 3339 timestamp: `2006-01-02 15:04:05.999999999
/// -0700 MST`, where a UTC time's zone is `UTC` and a fixed offset's zone is the offset.
fn go_time(rfc3339: &str) -> String {
    let Some((date, rest)) = rfc3339.split_once('T') else {
        return rfc3339.to_string();
    };
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let clock = match clock.split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{frac}")
            }
        }
        None => clock.to_string(),
    };
    let zone = match zone {
        "" | "Z" | "z" | "+00:00" => "+0000 UTC".to_string(),
        offset => {
            let compact = offset.replace(':', "");
            format!("{compact} {compact}")
        }
    };
    format!("{date} {clock} {zone}")
}

impl fmt::Display for Value {
    /// Go's `%v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) | Value::Digest(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(l) => write_seq(f, "[", l.iter(), "]"),
            Value::Map(m) => write_seq(f, "map[", m.iter().map(|(k, v)| format!("{k}:{v}")), "]"),
            Value::Struct(fields) => write_seq(f, "{", fields.iter().map(|(_, v)| v), "}"),
            Value::Time(t) => f.write_str(&go_time(t)),
            Value::Nil => f.write_str("<nil>"),
            Value::Missing => f.write_str("<no value>"),
        }
    }
}

/// Go's `%v` of a sequence: elements separated by spaces between `open` and `close`.
fn write_seq<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    items: impl Iterator<Item = T>,
    close: &str,
) -> fmt::Result {
    f.write_str(open)?;
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_char(' ')?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_go_prints_them() {
        assert_eq!(
            go_time("2024-01-01T00:00:00Z"),
            "2024-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            go_time("2023-05-06T07:08:09.120000Z"),
            "2023-05-06 07:08:09.12 +0000 UTC"
        );
        assert_eq!(
            go_time("2023-05-06T07:08:09+02:00"),
            "2023-05-06 07:08:09 +0200 +0200"
        );
    }
}

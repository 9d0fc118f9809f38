//! Fingerprints: the identity of an alert, read ready-made from the payload or hashed from
//! the fields a rule names.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::field::{scalar_text, Field, Path};
use super::spec::FingerprintSpec;
use crate::domain::Fingerprint;

#[derive(Debug, Clone)]
pub enum FingerprintRule {
    Field(Field),
    Hash(Vec<Path>),
}

impl FingerprintRule {
    pub fn compile(spec: &FingerprintSpec) -> Result<Self, String> {
        match (&spec.field, spec.from.is_empty()) {
            (Some(field), true) => Ok(FingerprintRule::Field(Field::compile(field)?)),
            (None, false) => spec
                .from
                .iter()
                .map(|p| Path::compile(p))
                .collect::<Result<_, _>>()
                .map(FingerprintRule::Hash),
            _ => Err("set exactly one of `field` or `from`".to_owned()),
        }
    }

    pub fn eval(&self, alert: &Value) -> Result<Fingerprint, String> {
        match self {
            FingerprintRule::Field(field) => {
                let raw = field
                    .eval(alert)
                    .ok_or_else(|| "fingerprint field is missing".to_owned())?;
                Ok(ready_made(&raw))
            }
            FingerprintRule::Hash(paths) => {
                // serde_json keeps object keys in document order; canonicalize first so the
                // same labels in another order give the same fingerprint.
                let parts: Vec<String> = paths
                    .iter()
                    .map(|p| canonical(p.first(alert).unwrap_or(&Value::Null)))
                    .collect();
                if parts.iter().all(String::is_empty) {
                    return Err("every fingerprint field is missing".to_owned());
                }
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                Ok(hash_fingerprint(&refs))
            }
        }
    }
}

/// A stable text form: object keys sorted, and scalars by their text, so `7714` and
/// `"7714"` (tools are not consistent) give the same fingerprint.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(obj) => {
            let sorted: BTreeMap<&String, String> =
                obj.iter().map(|(k, v)| (k, canonical(v))).collect();
            let inner: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => scalar_text(other)
            .map(|text| Value::String(text).to_string())
            .unwrap_or_default(),
    }
}

/// A sender's own id as a fingerprint: as is (trimmed), or hashed when too long.
pub fn ready_made(raw: &str) -> Fingerprint {
    Fingerprint::new(raw).unwrap_or_else(|| hash_fingerprint(&[raw]))
}

fn hash_fingerprint(parts: &[&str]) -> Fingerprint {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hex::encode(hasher.finalize());
    Fingerprint::new(&digest[..16]).unwrap_or_else(|| unreachable!("16 hex digits are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": 2, "x": [1, "z"]}});
        let b = json!({"a": {"x": [1, "z"], "y": 2}, "b": 1});
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&a), canonical(&json!({"b": 2})));
        assert_eq!(canonical(&json!(7714)), canonical(&json!("7714")));
    }

    #[test]
    fn hashed_fingerprints_are_sixteen_hex_digits_and_stable() {
        let fp = hash_fingerprint(&["a", "b"]);
        assert_eq!(fp.as_str().len(), 16);
        assert_eq!(fp, hash_fingerprint(&["a", "b"]));
        assert_ne!(fp, hash_fingerprint(&["ab"]));
    }
}

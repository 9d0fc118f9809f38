//! Each source's own credentials: bearer tokens (optionally only the tokens named for
//! the source), or an HMAC-SHA256 signature of the body with a signed timestamp, for
//! tools that sign their webhooks instead of sending a token.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Signatures older (or further in the future) than this are refused as replays.
pub const DEFAULT_MAX_AGE_SECS: u64 = 300;

/// How a source proves who is sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// `Authorization: Bearer <token>` with a `monitor` (or `admin`) token.
    #[default]
    Bearer,
    /// An HMAC-SHA256 of `<timestamp><separator><body>` in a header.
    Hmac,
}

/// `[intake.sources.<name>]`: one source's credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceAuth {
    pub auth: AuthKind,
    /// Bearer: the names of the `monitor` tokens this source accepts (empty: any).
    pub tokens: Vec<String>,
    /// HMAC: the shared key.
    pub secret: String,
    pub signature_header: String,
    /// Text before the hex digest in the signature header (`sha256=`); may be empty.
    pub signature_prefix: String,
    /// Header with the Unix time, in seconds, at which the sender signed.
    pub timestamp_header: String,
    /// What joins the timestamp to the body in the signed text (`.`; Grafana uses `:`).
    pub timestamp_separator: String,
    pub max_age_secs: u64,
}

impl Default for SourceAuth {
    fn default() -> Self {
        SourceAuth {
            auth: AuthKind::Bearer,
            tokens: Vec::new(),
            secret: String::new(),
            signature_header: "X-Vigia-Signature".to_owned(),
            signature_prefix: "sha256=".to_owned(),
            timestamp_header: "X-Vigia-Timestamp".to_owned(),
            timestamp_separator: ".".to_owned(),
            max_age_secs: DEFAULT_MAX_AGE_SECS,
        }
    }
}

/// The secret never appears in logs or error messages.
impl fmt::Debug for SourceAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceAuth")
            .field("auth", &self.auth)
            .field("tokens", &self.tokens)
            .field("secret", &if self.secret.is_empty() { "" } else { "***" })
            .field("signature_header", &self.signature_header)
            .field("signature_prefix", &self.signature_prefix)
            .field("timestamp_header", &self.timestamp_header)
            .field("max_age_secs", &self.max_age_secs)
            .finish()
    }
}

/// Checks every source's settings; the message names the key at fault.
pub fn validate(sources: &BTreeMap<String, SourceAuth>) -> Result<(), String> {
    for (name, s) in sources {
        let key = |k: &str| format!("`intake.sources.{name}.{k}`");
        match s.auth {
            AuthKind::Hmac if s.secret.len() < 16 => {
                return Err(format!(
                    "{} must be at least 16 characters for an `hmac` source",
                    key("secret")
                ))
            }
            AuthKind::Hmac if s.signature_header.trim().is_empty() => {
                return Err(format!("{} must name a header", key("signature_header")))
            }
            AuthKind::Hmac if s.timestamp_header.trim().is_empty() => {
                return Err(format!(
                    "{} must name a header: the signed timestamp is what refuses replays",
                    key("timestamp_header")
                ))
            }
            AuthKind::Hmac if s.max_age_secs == 0 => {
                return Err(format!("{} must be at least 1", key("max_age_secs")))
            }
            AuthKind::Hmac if !s.tokens.is_empty() => {
                return Err(format!(
                    "{} is for `bearer` sources; an `hmac` source takes no tokens",
                    key("tokens")
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why a signature was refused: the metric label and the answer's detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the `{0}` header with the request's signature is missing")]
    MissingSignature(String),
    #[error("the `{0}` header with the signing time is missing")]
    MissingTimestamp(String),
    #[error("the `{0}` header must be the Unix time in seconds")]
    BadTimestamp(String),
    #[error("the signature is {age_secs} s away from now; at most {max_secs} s is accepted")]
    Stale { age_secs: i64, max_secs: u64 },
    #[error("the signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::MissingSignature(_) => "missing_signature",
            SignatureError::MissingTimestamp(_) => "missing_timestamp",
            SignatureError::BadTimestamp(_) => "bad_timestamp",
            SignatureError::Stale { .. } => "stale_timestamp",
            SignatureError::Mismatch => "bad_signature",
        }
    }
}

/// Checks an HMAC source's request: the timestamp is recent, and the signature over
/// `<timestamp><separator><body>` matches (compared in constant time).
pub fn verify_signature(
    auth: &SourceAuth,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let signature = header(&auth.signature_header)
        .ok_or_else(|| SignatureError::MissingSignature(auth.signature_header.clone()))?;
    let stamp = header(&auth.timestamp_header)
        .ok_or_else(|| SignatureError::MissingTimestamp(auth.timestamp_header.clone()))?;
    let signed_at: i64 = stamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(auth.timestamp_header.clone()))?;
    let age_secs = now_secs.saturating_sub(signed_at);
    if age_secs.unsigned_abs() > auth.max_age_secs {
        return Err(SignatureError::Stale {
            age_secs,
            max_secs: auth.max_age_secs,
        });
    }
    let digest = signature
        .trim()
        .strip_prefix(auth.signature_prefix.as_str())
        .and_then(|hex_digest| hex::decode(hex_digest.trim()).ok())
        .ok_or(SignatureError::Mismatch)?;
    let mut mac = mac(auth, stamp.trim());
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

/// The signature a sender puts in the header, for senders (and tests) in Rust.
pub fn sign(auth: &SourceAuth, timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac(auth, timestamp);
    mac.update(body);
    format!(
        "{}{}",
        auth.signature_prefix,
        hex::encode(mac.finalize().into_bytes())
    )
}

fn mac(auth: &SourceAuth, timestamp: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(auth.secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.as_bytes());
    mac.update(auth.timestamp_separator.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_460_800;

    fn hmac_source() -> SourceAuth {
        SourceAuth {
            auth: AuthKind::Hmac,
            secret: "una-clave-compartida-larga".to_owned(),
            ..SourceAuth::default()
        }
    }

    fn headers<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn a_body_signed_with_the_shared_key_within_five_minutes_passes() {
        let auth = hmac_source();
        let body = br#"{"state":"down"}"#;
        let stamp = (NOW - 299).to_string();
        let h = [
            ("x-vigia-timestamp", stamp.clone()),
            ("x-vigia-signature", sign(&auth, &stamp, body)),
        ];
        assert_eq!(verify_signature(&auth, headers(&h), body, NOW), Ok(()));
    }

    #[test]
    fn a_changed_body_a_wrong_key_or_a_moved_timestamp_is_refused() {
        let auth = hmac_source();
        let body = br#"{"state":"down"}"#;
        let stamp = NOW.to_string();
        let good = sign(&auth, &stamp, body);
        let h = [
            ("X-Vigia-Timestamp", stamp.clone()),
            ("X-Vigia-Signature", good.clone()),
        ];
        let tampered = br#"{"state":"up"}"#;
        assert_eq!(
            verify_signature(&auth, headers(&h), tampered, NOW),
            Err(SignatureError::Mismatch)
        );
        let other_key = SourceAuth {
            secret: "otra-clave-distinta-larga".to_owned(),
            ..hmac_source()
        };
        assert_eq!(
            verify_signature(&other_key, headers(&h), body, NOW),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed: moving it forward to pass the age check breaks the match.
        let moved = [
            ("X-Vigia-Timestamp", (NOW + 1).to_string()),
            ("X-Vigia-Signature", good),
        ];
        assert_eq!(
            verify_signature(&auth, headers(&moved), body, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_replay_older_than_five_minutes_is_refused_as_stale() {
        let auth = hmac_source();
        let body = b"{}";
        let stamp = (NOW - 301).to_string();
        let h = [
            ("X-Vigia-Timestamp", stamp.clone()),
            ("X-Vigia-Signature", sign(&auth, &stamp, body)),
        ];
        let refused = verify_signature(&auth, headers(&h), body, NOW).expect_err("stale");
        assert_eq!(
            refused,
            SignatureError::Stale {
                age_secs: 301,
                max_secs: 300
            }
        );
        assert_eq!(refused.reason(), "stale_timestamp");
    }

    #[test]
    fn missing_or_unreadable_headers_say_which_header() {
        let auth = hmac_source();
        let none: [(&str, String); 0] = [];
        assert_eq!(
            verify_signature(&auth, headers(&none), b"{}", NOW)
                .expect_err("missing")
                .to_string(),
            "the `X-Vigia-Signature` header with the request's signature is missing"
        );
        let bad = [
            ("X-Vigia-Signature", "sha256=00".to_owned()),
            ("X-Vigia-Timestamp", "ayer".to_owned()),
        ];
        assert_eq!(
            verify_signature(&auth, headers(&bad), b"{}", NOW),
            Err(SignatureError::BadTimestamp("X-Vigia-Timestamp".to_owned()))
        );
        let not_hex = [
            ("X-Vigia-Signature", "sha256=zz".to_owned()),
            ("X-Vigia-Timestamp", NOW.to_string()),
        ];
        assert_eq!(
            verify_signature(&auth, headers(&not_hex), b"{}", NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_grafana_style_signature_with_its_own_header_prefix_and_separator_passes() {
        let auth = SourceAuth {
            signature_header: "X-Grafana-Alerting-Signature".to_owned(),
            signature_prefix: String::new(),
            timestamp_header: "X-Grafana-Alerting-Signature-Timestamp".to_owned(),
            timestamp_separator: ":".to_owned(),
            ..hmac_source()
        };
        let body = br#"{"alerts":[]}"#;
        let stamp = NOW.to_string();
        // Computed independently: HMAC-SHA256(key, "<ts>:<body>").
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(auth.secret.as_bytes()).expect("key");
        mac.update(format!("{stamp}:").as_bytes());
        mac.update(body);
        let expected = hex::encode(mac.finalize().into_bytes());
        let h = [
            ("X-Grafana-Alerting-Signature", expected),
            ("X-Grafana-Alerting-Signature-Timestamp", stamp),
        ];
        assert_eq!(verify_signature(&auth, headers(&h), body, NOW), Ok(()));
    }

    #[test]
    fn hmac_sources_need_a_long_secret_and_take_no_tokens() {
        let mut sources = BTreeMap::new();
        sources.insert(
            "grafana".to_owned(),
            SourceAuth {
                secret: "corta".to_owned(),
                ..hmac_source()
            },
        );
        assert_eq!(
            validate(&sources).expect_err("short"),
            "`intake.sources.grafana.secret` must be at least 16 characters for an `hmac` source"
        );
        sources.insert(
            "grafana".to_owned(),
            SourceAuth {
                tokens: vec!["x".to_owned()],
                ..hmac_source()
            },
        );
        assert!(validate(&sources)
            .expect_err("tokens")
            .contains("takes no tokens"));
        sources.insert("grafana".to_owned(), hmac_source());
        assert_eq!(validate(&sources), Ok(()));
    }
}

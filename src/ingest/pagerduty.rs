//! PagerDuty Events API v2: the event as the public contract defines it, checked field by
//! field with PagerDuty's limits, and turned into the document the integration's rule
//! file reads. Any tool with a PagerDuty integration can then send to Vigía unchanged.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::domain::Fingerprint;

/// PagerDuty's own limits.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
pub const MAX_SUMMARY_CHARS: usize = 1024;
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
pub const ROUTING_KEY_CHARS: usize = 32;
const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

/// `[intake.pagerduty]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutyConfig {
    pub integrations: Vec<Integration>,
}

/// One integration key: who sends with it, read by which rule file, for which unit.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    /// Names the sender in events (`pagerduty:<name>`) and scopes its dedup keys.
    pub name: String,
    /// The 32-character integration key the tool puts in `routing_key`.
    pub routing_key: String,
    /// The rule file that reads its events (`rules/<source>.yaml`).
    #[serde(default = "default_source")]
    pub source: String,
    /// The unit that owns its alerts when no CI of the registry does.
    #[serde(default)]
    pub unit: Option<String>,
}

fn default_source() -> String {
    "pagerduty".to_owned()
}

/// Routing keys are credentials: never printed whole.
impl fmt::Debug for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.routing_key.chars().take(4).collect();
        f.debug_struct("Integration")
            .field("name", &self.name)
            .field("routing_key", &format!("{shown}…"))
            .field("source", &self.source)
            .field("unit", &self.unit)
            .finish()
    }
}

impl PagerDutyConfig {
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for (i, integration) in self.integrations.iter().enumerate() {
            let key = |k: &str| format!("`intake.pagerduty.integrations[{i}].{k}`");
            if integration.name.trim().is_empty() || !names.insert(&integration.name) {
                return Err(format!("{} must be set and unique", key("name")));
            }
            if integration.routing_key.chars().count() != ROUTING_KEY_CHARS
                || !integration
                    .routing_key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric())
            {
                return Err(format!(
                    "{} must be {ROUTING_KEY_CHARS} letters and digits, as PagerDuty's integration keys",
                    key("routing_key")
                ));
            }
            if !keys.insert(&integration.routing_key) {
                return Err(format!(
                    "{} is used by two integrations",
                    key("routing_key")
                ));
            }
            if integration.source.trim().is_empty() {
                return Err(format!("{} must name a rule file", key("source")));
            }
        }
        Ok(())
    }

    /// The integration whose key this is. Every key is compared, in constant time, so
    /// the answer's timing says nothing about how close a guess was.
    pub fn find(&self, routing_key: &str) -> Option<&Integration> {
        let mut found = None;
        for integration in &self.integrations {
            if crate::auth::secret_matches(routing_key.as_bytes(), &integration.routing_key) {
                found = Some(integration);
            }
        }
        found
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Trigger,
    Acknowledge,
    Resolve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
        }
    }
}

/// A valid event, before its routing key is looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub routing_key: String,
    pub action: Action,
    /// As sent, or generated for a trigger without one.
    pub dedup_key: String,
    body: Value,
}

impl Event {
    /// The alert's identity within Vigía: PagerDuty scopes keys to their integration.
    pub fn fingerprint(&self, integration: &Integration) -> Fingerprint {
        crate::rules::ready_made_fingerprint(&format!("{}/{}", integration.name, self.dedup_key))
    }

    /// What the integration's rule file reads: the event, with the dedup key it will be
    /// known by, the integration, the fingerprint and the timestamp in RFC 3339.
    pub fn document(&self, integration: &Integration) -> Value {
        let mut doc = self.body.clone();
        if let Some(fields) = doc.as_object_mut() {
            fields.remove("routing_key");
            fields.insert("dedup_key".into(), json!(self.dedup_key));
            fields.insert("integration".into(), json!(integration.name));
            fields.insert(
                "fingerprint".into(),
                json!(self.fingerprint(integration).as_str()),
            );
        }
        doc
    }
}

/// Reads an event as PagerDuty does: every problem found is listed, in PagerDuty's words
/// where it has them.
pub fn parse(body: &[u8]) -> Result<Event, Vec<String>> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(vec![format!(
            "Event is {} bytes; events are limited to 512 KB",
            body.len()
        )]);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| vec![format!("Malformed JSON: {e}")])?;
    let Value::Object(mut fields) = value else {
        return Err(vec!["Event must be a JSON object".to_owned()]);
    };
    let mut errors = Vec::new();
    let routing_key = text(&fields, "routing_key", &mut errors);
    if let Some(key) = &routing_key {
        if key.chars().count() != ROUTING_KEY_CHARS {
            errors.push(format!(
                "Length of 'routing_key' is incorrect (should be {ROUTING_KEY_CHARS} characters)"
            ));
        }
    }
    let action = match fields.get("event_action").and_then(Value::as_str) {
        Some("trigger") => Some(Action::Trigger),
        Some("acknowledge") => Some(Action::Acknowledge),
        Some("resolve") => Some(Action::Resolve),
        _ => {
            errors.push(
                "'event_action' is invalid (must be one of trigger, acknowledge, resolve)"
                    .to_owned(),
            );
            None
        }
    };
    let dedup_key = dedup_key(&fields, action, &mut errors);
    if action == Some(Action::Trigger) {
        check_trigger(&mut fields, &mut errors);
    }
    check_context(&fields, &mut errors);
    match (routing_key, action, errors.is_empty()) {
        (Some(routing_key), Some(action), true) => Ok(Event {
            routing_key,
            action,
            dedup_key: dedup_key.unwrap_or_else(|| crate::domain::ids::new("pd")),
            body: Value::Object(fields),
        }),
        _ => Err(errors),
    }
}

/// A required, non-blank string field.
fn text(fields: &Map<String, Value>, name: &str, errors: &mut Vec<String>) -> Option<String> {
    match fields.get(name).and_then(Value::as_str).map(str::trim) {
        Some(v) if !v.is_empty() => Some(v.to_owned()),
        _ => {
            errors.push(format!("'{name}' is missing or blank"));
            None
        }
    }
}

/// The sender's key; acknowledge and resolve need one, a trigger without one gets one.
fn dedup_key(
    fields: &Map<String, Value>,
    action: Option<Action>,
    errors: &mut Vec<String>,
) -> Option<String> {
    let key = match fields.get("dedup_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push("'dedup_key' must be a string".to_owned());
            return None;
        }
    };
    if let Some(k) = &key {
        if k.chars().count() > MAX_DEDUP_KEY_CHARS {
            errors.push(format!(
                "Length of 'dedup_key' is incorrect (should be at most {MAX_DEDUP_KEY_CHARS} characters)"
            ));
        }
    }
    if key.is_none() && matches!(action, Some(Action::Acknowledge | Action::Resolve)) {
        errors.push("'dedup_key' is missing or blank".to_owned());
    }
    key
}

fn check_trigger(fields: &mut Map<String, Value>, errors: &mut Vec<String>) {
    let Some(Value::Object(payload)) = fields.get_mut("payload") else {
        errors.push("'payload' is missing or not an object".to_owned());
        return;
    };
    let summary = match payload.get("summary").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => Some(s),
        _ => {
            errors.push("'payload.summary' is missing or blank".to_owned());
            None
        }
    };
    if summary.is_some_and(|s| s.chars().count() > MAX_SUMMARY_CHARS) {
        errors.push(format!(
            "Length of 'payload.summary' is incorrect (should be at most {MAX_SUMMARY_CHARS} characters)"
        ));
    }
    if !matches!(payload.get("source").and_then(Value::as_str), Some(s) if !s.trim().is_empty()) {
        errors.push("'payload.source' is missing or blank".to_owned());
    }
    if !matches!(payload.get("severity").and_then(Value::as_str), Some(s) if SEVERITIES.contains(&s))
    {
        errors.push(
            "'payload.severity' is invalid (must be one of critical, error, warning, info)"
                .to_owned(),
        );
    }
    for name in ["component", "group", "class"] {
        if !matches!(
            payload.get(name),
            None | Some(Value::Null | Value::String(_))
        ) {
            errors.push(format!("'payload.{name}' must be a string"));
        }
    }
    match payload.get("timestamp") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match timestamp(s) {
            // The rules read one form of time; the sender's text stays in the raw payload.
            Some(t) => {
                payload.insert("timestamp".into(), json!(t.to_string()));
            }
            None => errors.push(format!(
                "'payload.timestamp' `{s}` is not an ISO 8601 timestamp such as 2015-07-17T08:42:58.315+0000"
            )),
        },
        Some(_) => errors.push("'payload.timestamp' must be a string".to_owned()),
    }
}

/// `images`, `links`, `client` and `client_url`, when present, as the contract shapes them.
fn check_context(fields: &Map<String, Value>, errors: &mut Vec<String>) {
    for (name, required) in [("images", "src"), ("links", "href")] {
        match fields.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if item.get(required).and_then(Value::as_str).is_none() {
                        errors.push(format!("'{name}[{i}].{required}' is missing"));
                    }
                }
            }
            Some(_) => errors.push(format!("'{name}' must be an array")),
        }
    }
    for name in ["client", "client_url"] {
        if !matches!(
            fields.get(name),
            None | Some(Value::Null | Value::String(_))
        ) {
            errors.push(format!("'{name}' must be a string"));
        }
    }
}

/// ISO 8601 with an offset written `+0000`, `+00:00` or `Z`.
pub fn timestamp(text: &str) -> Option<jiff::Timestamp> {
    let text = text.trim();
    if let Ok(t) = text.parse() {
        return Some(t);
    }
    // `…+0000` → `…+00:00`: the offset's last four characters are digits after a sign.
    let (head, offset) = text.split_at_checked(text.len().checked_sub(5)?)?;
    let (sign, digits) = offset.split_at_checked(1)?;
    if !matches!(sign, "+" | "-") || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    format!("{head}{sign}{}:{}", &digits[..2], &digits[2..])
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "R015ZQ3AWDD0JQJSQ4QLGE3EHVUZCBZW";

    /// Copies of `../shared/fixtures/pagerduty`.
    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/rules/testdata/pagerduty/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn integration() -> Integration {
        Integration {
            name: "zabbix-dga".into(),
            routing_key: KEY.into(),
            source: "pagerduty".into(),
            unit: Some("DGA".into()),
        }
    }

    #[test]
    fn the_trigger_fixture_is_valid_and_keeps_its_key() {
        let event = parse(&fixture("trigger.json")).expect("valid");
        assert_eq!(event.action, Action::Trigger);
        assert_eq!(event.dedup_key, "sidunea-db-replication-lag");
        assert_eq!(event.routing_key, KEY);
        let doc = event.document(&integration());
        assert_eq!(
            doc["fingerprint"],
            json!("zabbix-dga/sidunea-db-replication-lag")
        );
        assert_eq!(doc["payload"]["timestamp"], json!("2026-11-29T14:03:11Z"));
        assert!(doc.get("routing_key").is_none(), "the key is a credential");
    }

    #[test]
    fn a_trigger_without_a_key_gets_a_new_one_each_time() {
        let body = fixture("trigger-no-dedup-key.json");
        let first = parse(&body).expect("valid");
        let second = parse(&body).expect("valid");
        assert!(!first.dedup_key.is_empty());
        assert_ne!(first.dedup_key, second.dedup_key);
    }

    #[test]
    fn every_problem_of_an_invalid_event_is_listed() {
        let errors = parse(&fixture("invalid-missing-summary.json")).expect_err("invalid");
        assert_eq!(
            errors,
            vec![
                "'payload.summary' is missing or blank".to_owned(),
                "'payload.severity' is invalid (must be one of critical, error, warning, info)"
                    .to_owned(),
            ]
        );
    }

    #[test]
    fn acknowledge_and_resolve_need_a_dedup_key() {
        let body = json!({"routing_key": KEY, "event_action": "resolve"}).to_string();
        assert_eq!(
            parse(body.as_bytes()).expect_err("no key"),
            vec!["'dedup_key' is missing or blank".to_owned()]
        );
        let ack = parse(&fixture("acknowledge.json")).expect("valid");
        assert_eq!(ack.action, Action::Acknowledge);
    }

    #[test]
    fn limits_and_types_are_those_of_pagerduty() {
        let body = json!({
            "routing_key": "short",
            "event_action": "trigger",
            "dedup_key": "k".repeat(256),
            "payload": {"summary": "s".repeat(1025), "source": "h", "severity": "error",
                        "component": 7, "timestamp": "yesterday"},
            "links": [{"text": "no href"}],
        })
        .to_string();
        let errors = parse(body.as_bytes()).expect_err("invalid");
        assert_eq!(
            errors,
            vec![
                "Length of 'routing_key' is incorrect (should be 32 characters)".to_owned(),
                "Length of 'dedup_key' is incorrect (should be at most 255 characters)".to_owned(),
                "Length of 'payload.summary' is incorrect (should be at most 1024 characters)"
                    .to_owned(),
                "'payload.component' must be a string".to_owned(),
                "'payload.timestamp' `yesterday` is not an ISO 8601 timestamp such as 2015-07-17T08:42:58.315+0000".to_owned(),
                "'links[0].href' is missing".to_owned(),
            ]
        );
        let huge = vec![b' '; MAX_EVENT_BYTES + 1];
        assert_eq!(
            parse(&huge).expect_err("too big"),
            vec![format!(
                "Event is {} bytes; events are limited to 512 KB",
                MAX_EVENT_BYTES + 1
            )]
        );
        assert!(parse(b"{\"routing_key\":").expect_err("cut")[0]
            .starts_with("Malformed JSON: EOF while parsing"));
        assert_eq!(
            parse(b"[1]").expect_err("array"),
            vec!["Event must be a JSON object".to_owned()]
        );
    }

    #[test]
    fn timestamps_are_read_with_or_without_a_colon_in_the_offset() {
        let expected: jiff::Timestamp = "2026-11-29T20:03:11Z".parse().expect("t");
        for text in [
            "2026-11-29T14:03:11-0600",
            "2026-11-29T14:03:11.000-06:00",
            "2026-11-29T20:03:11.000+0000",
            "2026-11-29T20:03:11Z",
        ] {
            assert_eq!(timestamp(text), Some(expected), "{text}");
        }
        assert_eq!(timestamp("2026-11-29T20:03:11"), None, "no offset");
        assert_eq!(timestamp("+0000"), None);
    }

    #[test]
    fn keys_are_found_only_whole_and_long_dedup_keys_still_identify_one_alert() {
        let config = PagerDutyConfig {
            integrations: vec![integration()],
        };
        assert!(config.find(KEY).is_some());
        assert!(config.find(&KEY[..31]).is_none());
        assert!(config.find(&KEY.to_lowercase()).is_none());
        let long = Event {
            routing_key: KEY.into(),
            action: Action::Trigger,
            dedup_key: "x".repeat(255),
            body: json!({}),
        };
        let fp = long.fingerprint(&integration());
        assert_eq!(fp.as_str().len(), 16, "hashed, as the rules hash long ids");
        assert_eq!(fp, long.fingerprint(&integration()));
    }

    #[test]
    fn integrations_need_unique_names_and_pagerduty_shaped_keys() {
        let mut config = PagerDutyConfig {
            integrations: vec![integration(), integration()],
        };
        assert_eq!(
            config.validate().expect_err("dup"),
            "`intake.pagerduty.integrations[1].name` must be set and unique"
        );
        config.integrations[1].name = "otro".into();
        config.integrations[1].routing_key = "corta".into();
        assert!(config
            .validate()
            .expect_err("short")
            .starts_with("`intake.pagerduty.integrations[1].routing_key` must be 32"));
        config.integrations.pop();
        assert_eq!(config.validate(), Ok(()));
    }
}

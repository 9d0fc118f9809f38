//! Reading a report back: its figures without what depends on the moment or the
//! language, a comparison that allows a float's last bit, the command line.

use serde_json::{json, Value};

use crate::helpers::TestApp;

/// The report's figures, without what depends on the moment or the language.
pub fn figures(report: &Value) -> Value {
    let mut breaches: Vec<Value> = report["sla"]["breaches"]
        .as_array()
        .expect("breaches")
        .iter()
        .map(|b| {
            json!({
                "ticket": b["ticket"], "metric": b["metric"], "target_ms": b["target_ms"],
                "elapsed_ms": b["elapsed_ms"], "running_at_end": b["running_at_end"],
                "priority": b["priority"],
            })
        })
        .collect();
    breaches.sort_by_key(|b| (b["ticket"].to_string(), b["metric"].to_string()));
    let mut sla = report["sla"].clone();
    sla["breaches"] = json!(breaches);
    let backlog = |at: &str| json!({"total": report["backlog"][at]["total"], "aging": report["backlog"][at]["aging"]});
    json!({
        "totals": report["totals"], "volume": report["volume"],
        "backlog": {"start": backlog("start"), "end": backlog("end")},
        "sla": sla, "mtta": report["mtta"], "mttr": report["mttr"],
        "quality": report["quality"], "problems": report["problems"],
    })
}

/// Equal, but for rates: JSON parsing may move a float by its last bit.
pub fn assert_same(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            let (mut ka, mut ke) = (keys(a), keys(e));
            ka.sort();
            ke.sort();
            assert_eq!(ka, ke, "keys of {path}");
            for (key, value) in a {
                assert_same(value, &e[key], &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "length of {path}: {actual} vs {expected}");
            for (i, (x, y)) in a.iter().zip(e).enumerate() {
                assert_same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(e)) if a.is_f64() || e.is_f64() => {
            let (a, e) = (a.as_f64().expect("number"), e.as_f64().expect("number"));
            assert!((a - e).abs() < 1e-12, "{path}: {a} vs {e}");
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

pub fn millis(stamp: &Value) -> Option<i64> {
    let text = stamp.as_str()?;
    assert!(
        text.ends_with("-06:00"),
        "local time in El Salvador: {text}"
    );
    Some(
        text.parse::<jiff::Timestamp>()
            .expect("RFC 3339")
            .as_millisecond(),
    )
}

/// `vigia report monthly --unit DINAFI --month 2026-11 …` against the app's database.
pub async fn vigia_report(app: &TestApp, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigia"));
    command.current_dir(dir.path()).env_remove("RUST_LOG");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("VIGIA_")) {
        command.env_remove(key);
    }
    command
        .env("VIGIA_DATABASE__URL", &app.database_url)
        .args([
            "report", "monthly", "--unit", "DINAFI", "--month", "2026-11",
        ])
        .args(extra)
        .output()
        .await
        .expect("vigia runs")
}

pub async fn text_of(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (String, String) {
    let mut request = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(&app.admin_token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.send().await.expect("request sent");
    assert_eq!(resp.status(), 200, "{path}");
    let content_type = resp.headers()["content-type"]
        .to_str()
        .expect("type")
        .to_owned();
    (content_type, resp.text().await.expect("text"))
}

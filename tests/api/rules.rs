//! Rule files: the shipped ones pass their tests; broken ones are refused with file,
//! line and reason, at start-up and on reload.

use std::path::Path;

use vigia::app::{reload_rules, App};
use vigia::config::Config;
use vigia::rules::{run_tests, RuleSet};

use crate::helpers::{fixture, repo_path, spawn_app_with, Backend};

fn copy_shipped_rules(to: &Path) {
    for file in ["alertmanager.yaml", "uptime.yaml"] {
        std::fs::copy(repo_path("rules").join(file), to.join(file)).expect("copy");
    }
}

#[test]
fn the_shipped_rule_files_pass_their_own_tests() {
    let rules = RuleSet::load(&repo_path("rules")).expect("shipped rules compile");
    let (passed, failures) = run_tests(&rules);
    assert!(failures.is_empty(), "{failures:?}");
    assert!(passed >= 9, "only {passed} tests ran");
}

#[test]
fn a_bad_jsonpath_is_refused_with_file_line_and_reason() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("probe.yaml"),
        "rules:\n  - name: ok\n    summary: $.a\n    severity: { default: info }\n    status: { default: firing }\n    fingerprint: { from: [$.a] }\n  - name: broken\n    summary: $.a[\n    severity: { default: info }\n    status: { default: firing }\n    fingerprint: { from: [$.a] }\n",
    )
    .expect("write");
    let err = RuleSet::load(dir.path()).expect_err("refused").to_string();
    assert!(err.contains("probe.yaml:7:"), "{err}");
    assert!(
        err.contains("rule `broken`, summary: invalid JSONPath `$.a[`"),
        "{err}"
    );
}

#[test]
fn yaml_mistakes_report_their_line_and_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("probe.yaml"),
        "rules:\n  - name: x\n    sumary: $.a\n",
    )
    .expect("write");
    let err = RuleSet::load(dir.path()).expect_err("refused").to_string();
    assert!(
        err.contains("probe.yaml:3:") && err.contains("sumary"),
        "{err}"
    );
}

#[test]
fn a_failing_rule_test_names_the_test_and_the_field() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("probe.yaml"),
        "rules:\n  - name: r\n    summary: $.a\n    severity: { default: info }\n    status: { default: firing }\n    fingerprint: { from: [$.a] }\ntests:\n  - name: wrong severity\n    input: { a: x }\n    expect: [ { severity: critical } ]\n",
    )
    .expect("write");
    let rules = RuleSet::load(dir.path()).expect("compiles");
    let (passed, failures) = run_tests(&rules);
    assert_eq!(passed, 0);
    let text = failures[0].to_string();
    assert!(text.contains("probe.yaml:8:"), "{text}");
    assert!(
        text.contains("`severity` is \"info\", expected \"critical\""),
        "{text}"
    );
}

#[tokio::test]
async fn start_up_refuses_a_rule_file_that_does_not_compile() {
    let dir = tempfile::tempdir().expect("dir");
    copy_shipped_rules(dir.path());
    std::fs::write(dir.path().join("bad.yaml"), "rules: [ {").expect("write");
    let mut config = Config::default();
    config.rules.dir = dir.path().to_owned();
    config.database.url = format!("sqlite://{}", dir.path().join("v.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = App::build(&config, listener).await.err().expect("refused");
    assert!(err.to_string().contains("bad.yaml"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_previous_rules_when_the_new_ones_are_broken() {
    let dir = tempfile::tempdir().expect("dir");
    copy_shipped_rules(dir.path());
    let rules_dir = dir.path().to_owned();
    let app = spawn_app_with(Backend::Sqlite, |c| c.rules.dir = rules_dir).await;

    std::fs::write(dir.path().join("uptime.yaml"), "rules: nonsense").expect("break");
    let err = reload_rules(&app.state).await.expect_err("refused");
    assert!(err.to_string().contains("uptime.yaml"), "{err}");
    app.ingest("uptime", &fixture("uptime/uptime-probe.json"))
        .await;

    // A good reload brings in a new source.
    copy_shipped_rules(dir.path());
    std::fs::copy(
        dir.path().join("uptime.yaml"),
        dir.path().join("probes.yaml"),
    )
    .expect("copy");
    reload_rules(&app.state).await.expect("reloads");
    app.ingest("probes", &fixture("uptime/uptime-probe.json"))
        .await;
}

//! The `vigia` binary as an operator uses it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::repo_path;

/// `vigia` in `dir`, with none of the caller's `VIGIA_*` settings or `RUST_LOG`.
fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigia"));
    command.current_dir(dir).env_remove("RUST_LOG");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("VIGIA_")) {
        command.env_remove(key);
    }
    command
}

fn vigia(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().expect("vigia runs")
}

/// Lines of a child's stream, read on a thread so a test can wait for one with a limit.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first line that `pick` accepts, within 20 seconds.
fn wait_for<T>(lines: &mpsc::Receiver<String>, pick: impl Fn(&str) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("the expected log line within 20 s");
        if let Some(found) = pick(&line) {
            return found;
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch working directory holding a copy of the shipped rules and their payloads.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    copy_tree(&repo_path("rules"), &dir.path().join("rules"));
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from)
        .expect("read dir")
        .map(|e| e.expect("entry"))
    {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn help_explains_every_command() {
    let out = vigia(Path::new("."), &["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for command in ["serve", "migrate", "rules", "token", "ci"] {
        assert!(help.contains(command), "{help}");
    }
    let rules_help = text(&vigia(Path::new("."), &["rules", "--help"]).stdout);
    assert!(
        rules_help.contains("check") && rules_help.contains("test"),
        "{rules_help}"
    );
}

#[test]
fn rules_check_passes_on_the_shipped_rules_and_fails_with_location_on_broken_ones() {
    let dir = workdir();
    let ok = vigia(dir.path(), &["rules", "check"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("3 rule file(s) compiled"));

    std::fs::write(
        dir.path().join("rules/uptime.yaml"),
        "rules:\n  - name: x\n    alerts: $[\n",
    )
    .expect("write");
    let bad = vigia(dir.path(), &["rules", "check"]);
    assert!(!bad.status.success());
    let err = text(&bad.stderr);
    assert!(err.contains("uptime.yaml:"), "{err}");
}

#[test]
fn rules_test_prints_the_signals_and_the_matching_rule_without_storing() {
    let dir = workdir();
    let out = vigia(
        dir.path(),
        &[
            "rules",
            "test",
            "alertmanager",
            "rules/testdata/alertmanager/group-firing.json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(printed["rule"], "alertmanager-v4");
    assert_eq!(printed["signals"].as_array().expect("signals").len(), 3);
    assert!(!dir.path().join("vigia.db").exists(), "nothing stored");

    let out = vigia(
        dir.path(),
        &[
            "rules",
            "test",
            "alertmanager",
            "rules/testdata/uptime/uptime-probe.json",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no rule of source `alertmanager` matches"));
}

#[test]
fn a_bad_configuration_key_is_named() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("vigia.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\nbody_limt = 5\n",
    )
    .expect("write");
    let out = vigia(dir.path(), &["--config", "vigia.toml", "rules", "check"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("body_limt"), "{err}");
}

#[test]
fn token_create_prints_a_token_once_and_stores_only_its_hash() {
    let dir = workdir();
    let out = vigia(
        dir.path(),
        &["token", "create", "--name", "am-prod", "--role", "monitor"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert!(token.starts_with("vga_") && token.len() > 40, "{token}");
    let db = std::fs::read(dir.path().join("vigia.db")).expect("database created");
    let hay = String::from_utf8_lossy(&db);
    assert!(!hay.contains(&token), "the clear token is never stored");
    let bad = vigia(
        dir.path(),
        &["token", "create", "--name", "x", "--role", "overlord"],
    );
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("overlord"));
}

#[test]
fn tokens_for_people_come_from_the_registry_and_can_be_revoked() {
    let dir = workdir();
    let registry = repo_path("tests/fixtures/ministerio.yaml");
    let registry = registry.to_str().expect("utf-8 path");
    let out = vigia(dir.path(), &["ci", "import", registry]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = vigia(dir.path(), &["token", "create", "--person", "ana.lopez"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(
        said.contains("`ana.lopez` (technician, unit DINAFI)"),
        "{said}"
    );
    let id = said
        .split_whitespace()
        .nth(1)
        .expect("the token's id")
        .to_owned();
    assert!(id.starts_with("tok_"), "{said}");
    let out = vigia(dir.path(), &["token", "revoke", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = vigia(dir.path(), &["token", "revoke", &id]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains(&format!("no live token `{id}`")));
    let nobody = vigia(dir.path(), &["token", "create", "--person", "nadie"]);
    assert!(!nobody.status.success());
    assert!(text(&nobody.stderr).contains("no person `nadie`"));
    let role = vigia(
        dir.path(),
        &["token", "create", "--name", "x", "--role", "technician"],
    );
    assert!(
        text(&role.stderr).contains("belong to people"),
        "{}",
        text(&role.stderr)
    );
}

/// A bare `vigia serve` in a fresh directory creates `vigia.db`, serves, reloads rules on
/// SIGHUP (keeping the old ones when the new are broken) and exits 0 on SIGTERM.
#[test]
fn serve_runs_on_a_fresh_directory_and_stops_cleanly_on_sigterm() {
    let dir = workdir();
    let mut child = command(dir.path())
        .arg("serve")
        .env("VIGIA_SERVER__LISTEN", "127.0.0.1:0")
        .env("VIGIA_LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let logs = lines(child.stderr.take().expect("stderr"));
    let address = wait_for(&logs, |line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        v["fields"]["address"].as_str().map(str::to_owned)
    });
    assert!(dir.path().join("vigia.db").exists());
    let health = std::net::TcpStream::connect(&address);
    assert!(health.is_ok(), "listening on {address}");

    std::fs::write(dir.path().join("rules/uptime.yaml"), "rules: [").expect("break rules");
    signal(child.id(), "-HUP");
    wait_for(&logs, |l| l.contains("rules reload refused").then_some(()));
    assert!(
        std::net::TcpStream::connect(&address).is_ok(),
        "still serving after a bad reload"
    );

    signal(child.id(), "-TERM");
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success());
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("vigia did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ci_import_loads_the_registry_once_and_refuses_a_bad_file_with_its_lines() {
    let dir = workdir();
    let registry = dir.path().join("ministerio.yaml");
    std::fs::copy(repo_path("tests/fixtures/ministerio.yaml"), &registry).expect("copy");
    let first = vigia(dir.path(), &["ci", "import", "ministerio.yaml"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("CIs were 19 created, 0 updated, 0 unchanged"),
        "{}",
        text(&first.stdout)
    );
    let again = vigia(dir.path(), &["ci", "import", "ministerio.yaml"]);
    assert!(text(&again.stdout).contains("CIs were 0 created, 0 updated, 19 unchanged"));

    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "id,name,type,unit,criticality,depends_on\n\
         srv-x,X,server,DINAFI,high,vm-cluster01\n\
         srv-y,Y,server,NOWHERE,high,\n\
         srv-z,Z,server,DINAFI,high,missing-ci\n",
    )
    .expect("write");
    let bad = vigia(dir.path(), &["ci", "import", "bad.csv"]);
    assert!(!bad.status.success());
    let err = text(&bad.stderr);
    assert!(err.contains("refused, nothing was imported"), "{err}");
    assert!(
        err.contains("bad.csv: line 3:") && err.contains("NOWHERE"),
        "{err}"
    );
    assert!(
        err.contains("bad.csv: line 4:") && err.contains("missing-ci"),
        "{err}"
    );
    assert!(
        !err.contains("line 2:"),
        "the good row is not blamed: {err}"
    );

    let dry = vigia(
        dir.path(),
        &["ci", "import", "--dry-run", "ministerio.yaml"],
    );
    assert!(
        text(&dry.stdout).contains("would be"),
        "{}",
        text(&dry.stdout)
    );
    let unknown = vigia(dir.path(), &["ci", "import", "registry.xml"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains(".yaml, .yml, .json or .csv"));
}

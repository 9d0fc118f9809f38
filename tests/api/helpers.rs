//! Test harness: spawn the app on a random port with a fresh SQLite file, or a fresh
//! PostgreSQL database when `TEST_DATABASE_URL` is set; clean up on drop.

use std::path::{Path, PathBuf};

use reqwest::{Method, Response};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vigia::app::App;
use vigia::auth::{create_token, Role};
use vigia::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one test body against SQLite, and against PostgreSQL when configured.
#[macro_export]
macro_rules! on_both_stores {
    ($($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$test($crate::helpers::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::helpers::postgres_url().is_none() {
                        eprintln!("TEST_DATABASE_URL is not set; PostgreSQL run skipped");
                        return;
                    }
                    super::$test($crate::helpers::Backend::Postgres).await;
                }
            }
        )+
    };
}

pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A payload fixture from `rules/testdata/` (copies of `../shared/fixtures`).
pub fn fixture(rel: &str) -> String {
    let path = repo_path("rules/testdata").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub monitor_token: String,
    pub admin_token: String,
    pub state: vigia::api::AppState,
    pub database_url: String,
    _dir: tempfile::TempDir,
    shutdown: CancellationToken,
    server: Option<JoinHandle<Result<(), vigia::app::AppError>>>,
    pg_database: Option<(String, String)>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with_rules(backend, &[], adjust).await
}

/// The app with the shipped rules plus `extra` rule files (name, YAML).
pub async fn spawn_app_with_rules(
    backend: Backend,
    extra: &[(&str, &str)],
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.rules.dir = repo_path("rules");
    if !extra.is_empty() {
        config.rules.dir = rules_with(dir.path(), extra);
    }
    config.intake.sweep_interval_secs = 1;
    config.desk.timer_interval_secs = 1;
    config.sla.timer_interval_secs = 1;
    // Reports go out only in the tests about them.
    config.sla.reports_enabled = false;
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    let pg_database = match backend {
        Backend::Sqlite => {
            config.database.url = format!("sqlite://{}", dir.path().join("vigia.db").display());
            None
        }
        Backend::Postgres => {
            let admin = postgres_url().expect("TEST_DATABASE_URL");
            let name = format!(
                "vigia_test_{}",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            pg_admin(&admin, &format!("CREATE DATABASE {name}")).await;
            config.database.url = replace_database(&admin, &name);
            Some((admin, name))
        }
    };
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .expect("bind");
    let app = App::build(&config, listener).await.expect("app builds");
    let addr = app.local_addr().expect("address");
    let state = app.state().clone();
    let monitor_token = create_token(&state.store, "alertmanager-test", Role::Monitor)
        .await
        .expect("token");
    let admin_token = create_token(&state.store, "admin.mesa", Role::Admin)
        .await
        .expect("token");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        monitor_token,
        admin_token,
        state,
        database_url: config.database.url.clone(),
        _dir: dir,
        shutdown,
        server: Some(server),
        pg_database,
    }
}

/// A copy of the shipped rule files (tests and payloads included) plus `extra`.
fn rules_with(dir: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let rules = dir.join("rules");
    copy_dir(&repo_path("rules"), &rules);
    for (name, text) in extra {
        std::fs::write(rules.join(name), text).expect("rule file written");
    }
    rules
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The ministry's registry sample (`../shared/fixtures/cmdb/ministerio.yaml`).
pub fn registry_fixture(name: &str) -> String {
    let path = repo_path("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let prefix = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(base);
    format!("{prefix}/{name}{query}")
}

async fn pg_admin(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("PostgreSQL reachable");
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .expect("admin statement");
}

impl TestApp {
    /// One request helper for every call: method, path, optional JSON body, token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        req.send().await.expect("request sent")
    }

    /// Imports a registry file through the API; the answer's status and body.
    pub async fn import(&self, body: &str, content_type: &str) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/api/v1/cis:import", self.base))
            .bearer_auth(&self.admin_token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON answer"))
    }

    /// Imports the ministry's registry sample and expects it accepted.
    pub async fn import_ministry(&self) {
        let (status, body) = self
            .import(&registry_fixture("ministerio.yaml"), "application/yaml")
            .await;
        assert_eq!(status, 200, "import refused: {body}");
    }

    /// A JSON request as the admin; status and body (`Null` if none).
    pub async fn admin_json(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .send(
                method,
                path,
                Some(&body.to_string()),
                Some(&self.admin_token),
            )
            .await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Waits (10 s at most) until `check` holds for the answer of GET `path`.
    pub async fn eventually(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            let value = self.get(path).await;
            if check(&value) {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "GET {path} never satisfied the check: {}",
            self.get(path).await
        );
    }

    /// A body-less request as the admin.
    pub async fn as_admin(&self, method: Method, path: &str) -> Response {
        self.send(method, path, None, Some(&self.admin_token)).await
    }

    /// A POST of `body` to a source's ingest endpoint as the monitoring source, not yet
    /// sent (for concurrent or repeated sends).
    pub fn ingest_request(&self, source: &str, body: String) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/api/v1/ingest/{source}", self.base))
            .bearer_auth(&self.monitor_token)
            .header("content-type", "application/json")
            .body(body)
    }

    /// Posts a payload as the monitoring source; the answer as it is.
    pub async fn post_alerts(&self, source: &str, body: &str) -> Response {
        self.ingest_request(source, body.to_owned())
            .send()
            .await
            .expect("request sent")
    }

    /// Posts a payload as the monitoring source and expects it accepted.
    pub async fn ingest(&self, source: &str, body: &str) -> Value {
        let resp = self.post_alerts(source, body).await;
        let status = resp.status();
        let json: Value = resp.json().await.expect("JSON answer");
        assert_eq!(status, 200, "ingest refused: {json}");
        json
    }

    /// GET as the admin, expecting 200 and JSON.
    pub async fn get(&self, path: &str) -> Value {
        let resp = self
            .send(Method::GET, path, None, Some(&self.admin_token))
            .await;
        let status = resp.status();
        let json: Value = resp.json().await.expect("JSON answer");
        assert_eq!(status, 200, "GET {path}: {json}");
        json
    }

    pub async fn events(&self, query: &str) -> Vec<Value> {
        items(self.get(&format!("/api/v1/events{query}")).await)
    }

    pub async fn incidents(&self, query: &str) -> Vec<Value> {
        items(self.get(&format!("/api/v1/incidents{query}")).await)
    }

    /// The value of one series on `/metrics`, if exported.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self
            .send(Method::GET, "/metrics", None, None)
            .await
            .text()
            .await
            .expect("metrics");
        text.lines().find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
    }

    /// Waits (10 s at most) until `n` ingest requests wait for their commit.
    pub async fn wait_for_pending(&self, n: f64) {
        for _ in 0..500 {
            if self.metric("vigia_intake_pending").await == Some(n) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("never saw {n} requests pending");
    }

    /// Asserts every batch so far was written set-based, not by the fallback.
    pub async fn assert_no_fallback(&self) {
        let fallbacks = self.metric("vigia_intake_batch_fallbacks_total").await;
        assert_eq!(fallbacks, Some(0.0), "a batch fell back");
    }

    /// Takes the database's write lock on a connection of its own, so the intake writer
    /// waits (requests stay in flight) until the returned connection rolls back.
    pub async fn hold_writer(&self, backend: Backend) -> sqlx::pool::PoolConnection<sqlx::Any> {
        let mut conn = self.pool().acquire().await.expect("connection");
        let statements: &[&str] = match backend {
            Backend::Sqlite => &["BEGIN IMMEDIATE"],
            // Blocks the writer's first insert; reads (and so `/metrics`) go on.
            Backend::Postgres => &["BEGIN", "LOCK TABLE raw_alerts IN EXCLUSIVE MODE"],
        };
        for sql in statements {
            sqlx::query(sql).execute(&mut *conn).await.expect("lock");
        }
        conn
    }

    /// A copy of the Alertmanager group with fingerprints of its own (one per `n`), so
    /// each accepted copy adds exactly three events.
    pub fn distinct_group(&self, n: u32) -> String {
        ["c6bb01695b119d16", "a9a2e51bcbe19e32", "00d321cee7ffb445"]
            .iter()
            .enumerate()
            .fold(
                fixture("alertmanager/group-firing.json"),
                |body, (i, fp)| body.replace(fp, &format!("{n:08x}{i:08x}")),
            )
    }

    /// Counts rows with a fresh connection (works after the app stopped).
    pub async fn count(&self, table: &str) -> i64 {
        let store = vigia::store::Store::connect(&self.database_url, 1)
            .await
            .expect("connect");
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(store.pool())
            .await
            .expect("count");
        store.close().await;
        n
    }

    pub fn pool(&self) -> &sqlx::AnyPool {
        self.state.store.pool()
    }

    /// Stops the server gracefully and returns how it ended; the database stays until drop.
    pub async fn stop(&mut self) -> Result<(), vigia::app::AppError> {
        self.shutdown.cancel();
        let server = self.server.take().expect("running");
        server.await.expect("server task")
    }
}

pub fn items(page: Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

/// The event of a fingerprint in a listing.
pub fn by_fingerprint<'a>(events: &'a [Value], fingerprint: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["fingerprint"] == fingerprint)
        .unwrap_or_else(|| panic!("no event with fingerprint {fingerprint} in {events:?}"))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some((admin, name)) = self.pg_database.take() {
            // Drop runs outside async context; a short-lived runtime on its own thread
            // removes the database so no test leaves one behind.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(pg_admin(
                        &admin,
                        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    ));
                }
            })
            .join();
        }
    }
}

impl TestApp {
    /// A token for a person of the imported registry.
    pub async fn person_token(&self, login: &str) -> String {
        vigia::auth::create_person_token(&self.state.store, login, login)
            .await
            .expect("person token")
            .token
    }

    /// A JSON request with `token`; status and body (`Null` if none).
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(Value::to_string);
        let resp = self.send(method, path, body.as_deref(), Some(token)).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

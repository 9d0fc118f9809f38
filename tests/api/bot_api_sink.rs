//! A stand-in for the Telegram Bot API and for a bot's reply URL: an axum server on
//! 127.0.0.1 that answers like Telegram (`{"ok": true, …}`) or with a fixed failure, and
//! keeps every request it gets (path, headers, JSON body).

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

pub struct BotApi {
    /// The base URL, as `chat.telegram.api_base` takes it.
    pub base: String,
    calls: Arc<Mutex<Vec<Call>>>,
    serving: JoinHandle<()>,
}

#[derive(Clone)]
struct Sink {
    calls: Arc<Mutex<Vec<Call>>>,
    status: StatusCode,
}

async fn receive(
    State(sink): State<Sink>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    sink.calls.lock().expect("lock").push(Call {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    if sink.status.is_success() {
        (
            sink.status,
            Json(json!({"ok": true, "result": {"message_id": 1}})),
        )
    } else {
        let answer = json!({"ok": false, "error_code": sink.status.as_u16(),
                            "description": "Bad Request: chat not found"});
        (sink.status, Json(answer))
    }
}

impl BotApi {
    /// Answers every request with `status` (Telegram's `ok: true` body on success).
    pub async fn start(status: StatusCode) -> BotApi {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink {
            calls: calls.clone(),
            status,
        };
        let router = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(sink);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        BotApi {
            base,
            calls,
            serving,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    /// Waits (10 s at most) until `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Call> {
        for _ in 0..200 {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("expected {n} requests, got {:?}", self.calls());
    }
}

impl Drop for BotApi {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

//! A webhook receiver for the tests: an axum server on 127.0.0.1 that answers one fixed
//! status and keeps every call it gets.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::task::JoinHandle;
use vigia::notify::WebhookConfig;

pub struct HookServer {
    pub url: String,
    calls: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    serving: JoinHandle<()>,
}

#[derive(Clone)]
struct Hook {
    calls: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    status: StatusCode,
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: String) -> StatusCode {
    hook.calls.lock().expect("lock").push((headers, body));
    hook.status
}

impl HookServer {
    pub async fn start(status: StatusCode) -> HookServer {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let hook = Hook {
            calls: calls.clone(),
            status,
        };
        let router = axum::Router::new()
            .route("/hooks/vigia", axum::routing::post(receive))
            .with_state(hook);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/hooks/vigia",
            listener.local_addr().expect("address")
        );
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        HookServer {
            url,
            calls,
            serving,
        }
    }

    /// Every call so far: its headers and body.
    pub fn calls(&self) -> Vec<(HeaderMap, String)> {
        self.calls.lock().expect("lock").clone()
    }

    /// The `[notify.webhooks.UNIT]` entry pointing here.
    pub fn config(&self, secret: &str) -> WebhookConfig {
        WebhookConfig {
            url: self.url.clone(),
            secret: secret.to_owned(),
        }
    }
}

impl Drop for HookServer {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

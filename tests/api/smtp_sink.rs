//! A real SMTP listener on 127.0.0.1 for the tests: it speaks enough SMTP for lettre,
//! keeps every message it accepts, and can refuse the first few with a 451 so retries
//! can be seen.
//!
//! ```ignore
//! let sink = SmtpSink::start().await;          // or SmtpSink::refusing(1)
//! let app = spawn_app_with(backend, |c| c.notify.smtp_url = sink.url()).await;
//! let mail = sink.wait_for(|m| m.to == ["jperez@mh.gob.sv"]).await;
//! assert!(mail.subject().contains("inc_"));
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope's sender and recipients (`MAIL FROM`, `RCPT TO`).
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent, dot-stuffing undone.
    pub raw: String,
}

impl Mail {
    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(self.raw.as_bytes())
            .unwrap_or_else(|| panic!("not an email:\n{}", self.raw))
    }

    /// The subject, decoded (lettre may send it RFC 2047-encoded).
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_owned()
    }

    /// The plain-text body, decoded from its transfer encoding, with `\n` line ends.
    pub fn body(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|b| b.replace("\r\n", "\n"))
            .unwrap_or_default()
    }

    /// A header's decoded text value.
    pub fn header(&self, name: &str) -> Option<String> {
        let message = self.parsed();
        let value = message.header(name)?;
        value.as_text().map(str::to_owned)
    }

    /// The display name and address of the `To:` header.
    pub fn header_to(&self) -> (Option<String>, Option<String>) {
        let message = self.parsed();
        let first = message.to().and_then(|to| to.first());
        (
            first.and_then(|a| a.name()).map(str::to_owned),
            first.and_then(|a| a.address()).map(str::to_owned),
        )
    }

    /// The display name and address of the `From:` header.
    pub fn header_from(&self) -> (Option<String>, Option<String>) {
        let message = self.parsed();
        let first = message.from().and_then(|from| from.first());
        (
            first.and_then(|a| a.name()).map(str::to_owned),
            first.and_then(|a| a.address()).map(str::to_owned),
        )
    }
}

#[derive(Default)]
struct Received {
    messages: Vec<Mail>,
    /// Messages still to refuse at the end of DATA.
    refuse: usize,
    refused: usize,
}

pub struct SmtpSink {
    port: u16,
    received: Arc<Mutex<Received>>,
    accepting: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::refusing(0).await
    }

    /// A sink that answers `451` to the first `n` messages and accepts the rest.
    pub async fn refusing(n: usize) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Received {
            refuse: n,
            ..Received::default()
        }));
        let shared = received.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        SmtpSink {
            port,
            received,
            accepting,
        }
    }

    /// Plain SMTP, no TLS: `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Mail> {
        self.lock().messages.clone()
    }

    /// How many messages were answered `451`.
    pub fn refused(&self) -> usize {
        self.lock().refused
    }

    /// The first message that satisfies `check`, waiting up to 15 s for it.
    pub async fn wait_for(&self, check: impl Fn(&Mail) -> bool) -> Mail {
        for _ in 0..300 {
            if let Some(mail) = self.messages().into_iter().find(|m| check(m)) {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seen: Vec<String> = self
            .messages()
            .iter()
            .map(|m| format!("to {:?}: {}", m.to, m.subject()))
            .collect();
        panic!("no such email within 15 s; received {seen:#?}");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// One client connection, command by command, until QUIT or a closed socket.
async fn session(stream: TcpStream, received: Arc<Mutex<Received>>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut envelope: Option<(String, Vec<String>)> = None;
    if writer.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
        return;
    }
    loop {
        let Some(line) = read_line(&mut reader).await else {
            return;
        };
        let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink greets you\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 sink\r\n",
            "MAIL" => {
                envelope = Some((angle_address(&line), Vec::new()));
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" => match envelope.as_mut() {
                Some((_, to)) => {
                    to.push(angle_address(&line));
                    b"250 2.1.5 OK\r\n"
                }
                None => b"503 5.5.1 MAIL first\r\n",
            },
            "DATA" => {
                if writer
                    .write_all(b"354 end with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let Some(raw) = read_data(&mut reader).await else {
                    return;
                };
                let (from, to) = envelope.take().unwrap_or_default();
                let mut state = received.lock().unwrap_or_else(|p| p.into_inner());
                if state.refuse > 0 {
                    state.refuse -= 1;
                    state.refused += 1;
                    b"451 4.3.0 try again later\r\n"
                } else {
                    state.messages.push(Mail { from, to, raw });
                    b"250 2.0.0 queued\r\n"
                }
            }
            "RSET" => {
                envelope = None;
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                let _ = writer.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => b"502 5.5.2 command not implemented\r\n",
        };
        if writer.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// A line without its CRLF; None once the client is gone.
async fn read_line(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut bytes = Vec::new();
    match reader.read_until(b'\n', &mut bytes).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(
            String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
    }
}

/// The message up to the lone `.` line, with the leading dot of stuffed lines removed.
async fn read_data(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut raw = String::new();
    loop {
        let line = read_line(reader).await?;
        if line == "." {
            return Some(raw);
        }
        raw.push_str(line.strip_prefix('.').unwrap_or(&line));
        raw.push_str("\r\n");
    }
}

/// `MAIL FROM:<a@b> BODY=8BITMIME` → `a@b`.
fn angle_address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}

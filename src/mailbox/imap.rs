//! The IMAP side of a desk mailbox: connect (implicit TLS, or plain for tests), log in,
//! list the messages not yet processed, fetch one, mark it processed, move it aside.
//! Processed messages carry the `\Seen` flag and the `VigiaProcessed` keyword; nothing
//! is ever deleted.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::config::AccountConfig;

/// The keyword that marks a message Vigía has turned into a ticket or a comment.
pub const PROCESSED: &str = "VigiaProcessed";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

pub type Session = async_imap::Session<Box<dyn Io>>;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("login as `{user}` refused: {reason}")]
    Login { user: String, reason: String },
    #[error(
        "folder `{0}` cannot keep the `VigiaProcessed` keyword (its PERMANENTFLAGS lack \\*): \
         Vigía marks each message it handled with it; use a server or folder that allows keywords"
    )]
    NoKeywords(String),
    #[error("IMAP {command} failed: {source}")]
    Command {
        command: &'static str,
        #[source]
        source: async_imap::error::Error,
    },
}

fn failed(command: &'static str) -> impl FnOnce(async_imap::error::Error) -> ImapError {
    move |source| ImapError::Command { command, source }
}

/// A logged-in session on the account's server.
pub async fn open(account: &AccountConfig) -> Result<Session, ImapError> {
    let address = format!("{}:{}", account.host, account.port);
    let connect_error = |reason: String| ImapError::Connect {
        address: address.clone(),
        reason,
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&address))
        .await
        .map_err(|_| connect_error("timed out".into()))?
        .map_err(|e| connect_error(e.to_string()))?;
    let stream: Box<dyn Io> = if account.tls {
        let name = rustls::pki_types::ServerName::try_from(account.host.clone())
            .map_err(|e| connect_error(format!("`{}` is not a host name: {e}", account.host)))?;
        let tls = tls_connector(account.ca_file.as_deref())
            .map_err(connect_error)?
            .connect(name, tcp);
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, tls)
            .await
            .map_err(|_| connect_error("TLS handshake timed out".into()))?
            .map_err(|e| connect_error(format!("TLS handshake failed: {e}")))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut client = async_imap::Client::new(stream);
    let greeting = tokio::time::timeout(CONNECT_TIMEOUT, client.read_response())
        .await
        .map_err(|_| connect_error("no greeting".into()))?
        .map_err(|e| connect_error(e.to_string()))?;
    if greeting.is_none() {
        return Err(connect_error("closed before the greeting".into()));
    }
    client
        .login(&account.username, account.secret())
        .await
        .map_err(|(e, _)| ImapError::Login {
            user: account.username.clone(),
            reason: e.to_string(),
        })
}

fn tls_connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, String> {
    let roots = match ca_file {
        Some(path) => read_roots(path)?,
        None => rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The certificate authorities of a PEM file; every certificate must be usable.
pub fn read_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("{}: a certificate is not usable: {e}", path.display()))?;
    }
    Ok(roots)
}

/// Creates `folder` unless it exists.
pub async fn ensure_folder(session: &mut Session, folder: &str) -> Result<(), ImapError> {
    let names: Vec<_> = session
        // The client sends the pattern as given: quoted here (names are checked to need
        // no escaping when the configuration loads).
        .list(None, Some(&format!("\"{folder}\"")))
        .await
        .map_err(failed("LIST"))?
        .try_collect()
        .await
        .map_err(failed("LIST"))?;
    if names.iter().any(|n| n.name() == folder) {
        return Ok(());
    }
    session.create(folder).await.map_err(failed("CREATE"))
}

/// Selects `folder` and returns the UIDs of the messages not processed yet, oldest
/// first, `limit` at most.
pub async fn unprocessed(
    session: &mut Session,
    folder: &str,
    limit: usize,
) -> Result<Vec<u32>, ImapError> {
    let selected = session.select(folder).await.map_err(failed("SELECT"))?;
    // Without keywords every read would take the same messages again as duplicates.
    if !selected
        .permanent_flags
        .iter()
        .any(|f| matches!(f, async_imap::types::Flag::MayCreate))
    {
        return Err(ImapError::NoKeywords(folder.to_owned()));
    }
    let mut uids: Vec<u32> = session
        .uid_search(format!("UNKEYWORD {PROCESSED}"))
        .await
        .map_err(failed("SEARCH"))?
        .into_iter()
        .collect();
    uids.sort_unstable();
    uids.truncate(limit);
    Ok(uids)
}

/// The size the server gives a message, in bytes; None if it is gone.
pub async fn size(session: &mut Session, uid: u32) -> Result<Option<u32>, ImapError> {
    Ok(fetch_one(session, uid, "RFC822.SIZE")
        .await?
        .and_then(|f| f.size))
}

/// The raw message, without setting `\Seen`; None if it is gone.
pub async fn fetch(session: &mut Session, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
    Ok(fetch_one(session, uid, "BODY.PEEK[]")
        .await?
        .and_then(|f| f.body().map(<[u8]>::to_vec)))
}

/// `items` of one message; None if it is gone.
async fn fetch_one(
    session: &mut Session,
    uid: u32,
    items: &str,
) -> Result<Option<async_imap::types::Fetch>, ImapError> {
    let fetches: Vec<_> = session
        .uid_fetch(uid.to_string(), items)
        .await
        .map_err(failed("FETCH"))?
        .try_collect()
        .await
        .map_err(failed("FETCH"))?;
    Ok(fetches.into_iter().find(|f| f.uid == Some(uid)))
}

pub async fn mark_processed(session: &mut Session, uid: u32) -> Result<(), ImapError> {
    let _: Vec<_> = session
        .uid_store(
            uid.to_string(),
            format!("+FLAGS.SILENT (\\Seen {PROCESSED})"),
        )
        .await
        .map_err(failed("STORE"))?
        .try_collect()
        .await
        .map_err(failed("STORE"))?;
    Ok(())
}

/// Moves the message to `folder` (RFC 6851 MOVE): kept, out of the way.
pub async fn set_aside(session: &mut Session, uid: u32, folder: &str) -> Result<(), ImapError> {
    session
        .uid_mv(uid.to_string(), folder)
        .await
        .map_err(failed("MOVE"))
}

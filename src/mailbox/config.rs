//! `[mailbox]` in the configuration: how often the desk mailboxes are read, how large an
//! attachment is kept, and each unit's mailbox (`[[mailbox.accounts]]`).

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailboxConfig {
    /// Seconds between two reads of each mailbox.
    pub poll_interval_secs: u64,
    /// Largest attachment kept, in bytes; a larger one is listed on the ticket as not
    /// kept, with its name and size.
    pub attachment_max_bytes: u64,
    /// Largest message read, in bytes; a larger one is moved aside unread (messages are
    /// read whole into memory).
    pub max_message_bytes: u64,
    /// Messages handled per mailbox and read; the rest wait for the next.
    pub max_messages_per_poll: usize,
    /// The units' desk mailboxes; none, no poller.
    pub accounts: Vec<AccountConfig>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountConfig {
    /// The unit whose desk the mailbox serves (a unit code of the registry).
    pub unit: String,
    /// The mailbox's address (the unit's `desk_email`).
    pub address: String,
    pub host: String,
    pub port: u16,
    /// true: implicit TLS (IMAPS, rustls with the Mozilla roots); false: plain TCP, for
    /// tests and servers on the same host only.
    pub tls: bool,
    /// A PEM file of the certificate authorities to trust for this server (a ministry's
    /// internal CA), instead of the public roots; only with `tls`.
    pub ca_file: Option<std::path::PathBuf>,
    pub username: String,
    pub password: String,
    /// The environment variable holding the password, instead of `password` (accounts
    /// are a list, which `VIGIA_*` variables cannot address).
    pub password_env: Option<String>,
    /// The folder read.
    pub folder: String,
    /// Where messages that cannot become a request are moved (created if missing).
    pub rejected_folder: String,
    /// A message whose subject matches this regular expression (case-insensitive)
    /// is an incident; otherwise a service request.
    pub incident_subject: Option<String>,
    /// A message sent (To or Cc) to one of these addresses is an incident.
    pub incident_recipients: Vec<String>,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig {
            poll_interval_secs: 60,
            attachment_max_bytes: 10 * 1024 * 1024,
            max_message_bytes: 50 * 1024 * 1024,
            max_messages_per_poll: 50,
            accounts: Vec::new(),
        }
    }
}

impl Default for AccountConfig {
    fn default() -> Self {
        AccountConfig {
            unit: String::new(),
            address: String::new(),
            host: String::new(),
            port: 993,
            tls: true,
            ca_file: None,
            username: String::new(),
            password: String::new(),
            password_env: None,
            folder: "INBOX".to_owned(),
            rejected_folder: "Rechazados".to_owned(),
            incident_subject: None,
            incident_recipients: Vec::new(),
        }
    }
}

/// The password is never printed.
impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountConfig")
            .field("unit", &self.unit)
            .field("address", &self.address)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &"***")
            .field("folder", &self.folder)
            .field("rejected_folder", &self.rejected_folder)
            .field("incident_subject", &self.incident_subject)
            .field("incident_recipients", &self.incident_recipients)
            .finish()
    }
}

impl AccountConfig {
    /// The password to log in with: from `password_env` when it names one.
    pub fn secret(&self) -> String {
        self.password_env
            .as_deref()
            .and_then(|var| std::env::var(var).ok())
            .unwrap_or_else(|| self.password.clone())
    }
}

impl MailboxConfig {
    /// The first problem, as (key, reason).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |key: String, why: &str| Err((key, why.to_owned()));
        if self.poll_interval_secs == 0 {
            return fail("mailbox.poll_interval_secs".into(), "must be at least 1");
        }
        if self.max_message_bytes == 0 {
            return fail("mailbox.max_message_bytes".into(), "must be at least 1");
        }
        if self.max_messages_per_poll == 0 {
            return fail("mailbox.max_messages_per_poll".into(), "must be at least 1");
        }
        for (i, a) in self.accounts.iter().enumerate() {
            let key = |field: &str| format!("mailbox.accounts[{i}].{field}");
            let required = [
                ("unit", &a.unit),
                ("host", &a.host),
                ("username", &a.username),
                ("folder", &a.folder),
                ("rejected_folder", &a.rejected_folder),
            ];
            for (field, value) in required {
                if value.trim().is_empty() {
                    return fail(key(field), "must be set");
                }
            }
            match (&a.password_env, a.password.trim().is_empty()) {
                (None, true) => return fail(key("password"), "must be set (or `password_env`)"),
                (Some(var), _) if std::env::var(var).is_err() => {
                    return Err((
                        key("password_env"),
                        format!("names `{var}`, which is not set in the environment"),
                    ))
                }
                _ => {}
            }
            if !a.address.contains('@') {
                return fail(key("address"), "must be the mailbox's email address");
            }
            if let Some(ca) = &a.ca_file {
                if !a.tls {
                    return fail(key("ca_file"), "is only for `tls = true`");
                }
                if let Err(e) = super::imap::read_roots(ca) {
                    return Err((key("ca_file"), e));
                }
            }
            if a.port == 0 {
                return fail(key("port"), "must be a TCP port (993 for IMAPS)");
            }
            for (field, name) in [
                ("folder", &a.folder),
                ("rejected_folder", &a.rejected_folder),
            ] {
                if !name
                    .chars()
                    .all(|c| c == ' ' || (c.is_ascii_graphic() && !"\"\\*%".contains(c)))
                {
                    return fail(
                        key(field),
                        "must be printable ASCII without quotes, backslashes, `*` or `%`",
                    );
                }
            }
            if a.folder == a.rejected_folder {
                return fail(key("rejected_folder"), "must differ from `folder`");
            }
            if let Some(pattern) = &a.incident_subject {
                if let Err(e) = subject_rule(pattern) {
                    return Err((
                        key("incident_subject"),
                        format!("is not a valid regular expression: {e}"),
                    ));
                }
            }
            if let Some(bad) = a.incident_recipients.iter().find(|r| !r.contains('@')) {
                return Err((
                    key("incident_recipients"),
                    format!("`{bad}` is not an email address"),
                ));
            }
        }
        Ok(())
    }
}

pub(super) fn subject_rule(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).case_insensitive(true).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountConfig {
        AccountConfig {
            unit: "DGII".into(),
            address: "mesa.dgii@mh.gob.sv".into(),
            host: "imap.mh.gob.sv".into(),
            username: "mesa.dgii".into(),
            password: "secret".into(),
            ..AccountConfig::default()
        }
    }

    fn with(account: AccountConfig) -> MailboxConfig {
        MailboxConfig {
            accounts: vec![account],
            ..MailboxConfig::default()
        }
    }

    #[test]
    fn a_complete_account_is_accepted_and_its_password_never_printed() {
        assert_eq!(with(account()).validate(), Ok(()));
        assert!(!format!("{:?}", account()).contains("secret"));
    }

    #[test]
    fn the_password_may_come_from_a_named_environment_variable() {
        // PATH is set wherever tests run; its value stands in for a password.
        let from_env = AccountConfig {
            password: String::new(),
            password_env: Some("PATH".into()),
            ..account()
        };
        assert_eq!(with(from_env.clone()).validate(), Ok(()));
        assert_eq!(from_env.secret(), std::env::var("PATH").expect("PATH"));
        assert_eq!(account().secret(), "secret");
    }

    #[test]
    fn each_problem_names_its_key() {
        let cases = [
            (
                AccountConfig {
                    unit: " ".into(),
                    ..account()
                },
                "mailbox.accounts[0].unit",
            ),
            (
                AccountConfig {
                    address: "mesa".into(),
                    ..account()
                },
                "mailbox.accounts[0].address",
            ),
            (
                AccountConfig {
                    rejected_folder: "INBOX".into(),
                    ..account()
                },
                "mailbox.accounts[0].rejected_folder",
            ),
            (
                AccountConfig {
                    password: String::new(),
                    ..account()
                },
                "mailbox.accounts[0].password",
            ),
            (
                AccountConfig {
                    ca_file: Some("/no/such/ca.pem".into()),
                    ..account()
                },
                "mailbox.accounts[0].ca_file",
            ),
            (
                AccountConfig {
                    tls: false,
                    ca_file: Some("/no/such/ca.pem".into()),
                    ..account()
                },
                "mailbox.accounts[0].ca_file",
            ),
            (
                AccountConfig {
                    rejected_folder: "Rechazados \"viejos\"".into(),
                    ..account()
                },
                "mailbox.accounts[0].rejected_folder",
            ),
            (
                AccountConfig {
                    password_env: Some("VIGIA_TEST_NO_SUCH_PASSWORD_VARIABLE".into()),
                    ..account()
                },
                "mailbox.accounts[0].password_env",
            ),
            (
                AccountConfig {
                    incident_subject: Some("(".into()),
                    ..account()
                },
                "mailbox.accounts[0].incident_subject",
            ),
            (
                AccountConfig {
                    incident_recipients: vec!["x".into()],
                    ..account()
                },
                "mailbox.accounts[0].incident_recipients",
            ),
        ];
        for (account, expected) in cases {
            let (key, _) = with(account).validate().expect_err("refused");
            assert_eq!(key, expected);
        }
    }
}

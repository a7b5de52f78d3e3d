//! The email channel: SMTP with lettre (STARTTLS, implicit TLS or plain on
//! loopback; optional authentication; a private CA from `ca_file`).
//!
//! ```yaml
//! notifications:
//!   email:
//!     enabled: true
//!     recipients: [admin@yourserver.com]
//!     from: "p2pmon <alerts@yourserver.com>"
//!     smtp: { host: smtp.yourserver.com, port: 587, security: starttls, username: alerts, password: ... }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;

use super::engine::Level;
use super::retry::Outcome;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587); required.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: accepted only towards a loopback address.
    None,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    #[serde(default)]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// PEM of a private CA (or self-signed certificate) of the server.
    #[serde(default)]
    pub ca_file: PathBuf,
}

fn default_port() -> u16 {
    587
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: default_port(),
            security: Security::Starttls,
            username: String::new(),
            password: String::new(),
            ca_file: PathBuf::new(),
        }
    }
}

/// The password is a secret: Debug leaves it out.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default = "default_from")]
    pub from: String,
    #[serde(default)]
    pub smtp: SmtpConfig,
    #[serde(default = "warning")]
    pub min_severity: Level,
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

fn default_from() -> String {
    "p2pmon <p2pmon@localhost>".to_string()
}
fn warning() -> Level {
    Level::Warning
}
fn yes() -> bool {
    true
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            recipients: Vec::new(),
            from: default_from(),
            smtp: SmtpConfig::default(),
            min_severity: Level::Warning,
            send_resolved: true,
        }
    }
}

impl EmailConfig {
    pub fn validate(&self, findings: &mut Findings) {
        if !self.enabled {
            return;
        }
        let at = "notifications.email";
        if self.recipients.is_empty() {
            findings.error(
                format!("{at}.recipients"),
                "an enabled email channel needs at least one recipient",
            );
        }
        for (i, to) in self.recipients.iter().enumerate() {
            if to.parse::<Mailbox>().is_err() {
                findings.error(
                    format!("{at}.recipients[{i}]"),
                    format!("{to:?} is not an email address"),
                );
            }
        }
        if self.from.parse::<Mailbox>().is_err() {
            findings.error(
                format!("{at}.from"),
                format!("{:?} is not an email address", self.from),
            );
        }
        if self.smtp.host.is_empty() {
            findings.error(
                format!("{at}.smtp.host"),
                "an enabled email channel needs an SMTP server",
            );
        }
        if self.smtp.security == Security::None && !is_loopback(&self.smtp.host) {
            findings.error(
                format!("{at}.smtp.security"),
                "none (no encryption) is accepted only towards a loopback address; use starttls or tls",
            );
        }
        if self.smtp.username.is_empty() != self.smtp.password.is_empty() {
            findings.error(format!("{at}.smtp"), "username and password go together");
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A ready SMTP client and the addresses to write to.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// Bound on a whole attempt (connect, TLS, auth, send).
    timeout: Duration,
    from: Mailbox,
    to: Vec<Mailbox>,
}

/// Why a mailer cannot be set up, a message built, or a session opened.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("notifications.email.smtp.ca_file {}: {error}", path.display())]
    CaFileRead {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("notifications.email.smtp.ca_file {}: {error}", path.display())]
    CaFileParse {
        path: PathBuf,
        error: lettre::transport::smtp::Error,
    },
    #[error("notifications.email.smtp: {0}")]
    Tls(lettre::transport::smtp::Error),
    #[error("{address:?}: {error}")]
    Address {
        address: String,
        error: lettre::address::AddressError,
    },
    #[error("{0}")]
    Message(#[from] lettre::error::Error),
    #[error("the server did not accept a session")]
    NoSession,
    #[error("{0}")]
    Session(lettre::transport::smtp::Error),
    #[error("no answer in {0:?}")]
    NoAnswer(Duration),
}

impl Mailer {
    pub fn new(config: &EmailConfig, timeout: Duration) -> Result<Self, EmailError> {
        let smtp = &config.smtp;
        let tls = || -> Result<TlsParameters, EmailError> {
            let mut builder = TlsParameters::builder(smtp.host.clone());
            if !smtp.ca_file.as_os_str().is_empty() {
                let pem = std::fs::read(&smtp.ca_file).map_err(|error| EmailError::CaFileRead {
                    path: smtp.ca_file.clone(),
                    error,
                })?;
                let certificate =
                    Certificate::from_pem(&pem).map_err(|error| EmailError::CaFileParse {
                        path: smtp.ca_file.clone(),
                        error,
                    })?;
                builder = builder.add_root_certificate(certificate);
            }
            builder.build_rustls().map_err(EmailError::Tls)
        };
        let tls = match smtp.security {
            Security::Starttls => Tls::Required(tls()?),
            Security::Tls => Tls::Wrapper(tls()?),
            Security::None => Tls::None,
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(timeout));
        if !smtp.username.is_empty() {
            transport = transport.credentials(Credentials::new(
                smtp.username.clone(),
                smtp.password.clone(),
            ));
        }
        let parse = |text: &str| {
            text.parse::<Mailbox>()
                .map_err(|error| EmailError::Address {
                    address: text.to_string(),
                    error,
                })
        };
        Ok(Self {
            transport: transport.build(),
            timeout,
            from: parse(&config.from)?,
            to: config
                .recipients
                .iter()
                .map(|r| parse(r))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn message(&self, subject: &str, body: String) -> Result<Message, EmailError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        Ok(builder.body(body)?)
    }

    /// One attempt: transient SMTP answers (4xx) and connection problems are
    /// retried, permanent ones (5xx) are not.
    /// Open a session with the server (connect, TLS, login) and close it.
    pub async fn check(&self) -> Result<(), EmailError> {
        match tokio::time::timeout(self.timeout, self.transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(EmailError::NoSession),
            Ok(Err(error)) => Err(EmailError::Session(error)),
            Err(_) => Err(EmailError::NoAnswer(self.timeout)),
        }
    }

    pub async fn attempt(&self, message: &Message) -> Outcome {
        match tokio::time::timeout(self.timeout, self.transport.send(message.clone())).await {
            Ok(Ok(_)) => Outcome::Delivered,
            Ok(Err(error)) if error.is_permanent() => Outcome::Refused(error.to_string()),
            Ok(Err(error)) => Outcome::Retry(None, error.to_string()),
            Err(_) => Outcome::Retry(
                None,
                format!("no answer within {} ms", self.timeout.as_millis()),
            ),
        }
    }
}

//! A real SMTP server for the email tests: Debian's python3-aiosmtpd,
//! running tests/support/smtp_server.py with STARTTLS and AUTH.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::aggregator::free_port;
use crate::{workspace_root, write_self_signed};

/// Debian's python, where python3-aiosmtpd lives (`make setup` installs it).
const PYTHON: &str = "/usr/bin/python3";

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    /// Where it writes what it receives.
    pub store: tempfile::TempDir,
    /// Its certificate (self-signed), to trust as the CA.
    pub cert: std::path::PathBuf,
    _certs: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server that requires STARTTLS, then AUTH as `alerts` with `password`.
pub fn smtp_server(password: &str) -> anyhow::Result<SmtpServer> {
    let certs = tempfile::tempdir()?;
    let (cert, key) = write_self_signed(certs.path(), "smtp")?;
    let store = tempfile::tempdir()?;
    let port = free_port()?;
    let mut child = Command::new(PYTHON)
        .arg(workspace_root().join("tests/support/smtp_server.py"))
        .arg(port.to_string())
        .arg(store.path())
        .args(["--user", "alerts", "--password", password, "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("cannot run {PYTHON} (install python3-aiosmtpd: make setup): {e}")
        })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    anyhow::ensure!(
        line.trim() == "ready",
        "SMTP server did not start (is python3-aiosmtpd installed?): {line:?}"
    );
    Ok(SmtpServer {
        child,
        port,
        store,
        cert,
        _certs: certs,
    })
}

/// Messages received so far: (raw message, envelope), in order. The server
/// writes the envelope after the message, so a message counts once its
/// envelope reads whole.
pub fn received(store: &Path) -> Vec<(String, serde_json::Value)> {
    let mut found = Vec::new();
    for n in 1..100 {
        let envelope = std::fs::read_to_string(store.join(format!("{n:03}.json")))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let Some(envelope) = envelope else {
            break;
        };
        let Ok(text) = std::fs::read_to_string(store.join(format!("{n:03}.eml"))) else {
            break;
        };
        found.push((text, envelope));
    }
    found
}

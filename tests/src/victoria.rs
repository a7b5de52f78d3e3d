//! VictoriaMetrics (Debian's package) as the real line-protocol store the
//! InfluxDB path writes to: started on a port, waited for, stopped on drop.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::aggregator::{free_port, http_ok};

/// Where Debian installs it.
pub const BINARY: &str = "/usr/bin/victoria-metrics";

/// A running VictoriaMetrics with its own data directory.
pub struct Victoria {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Victoria {
    /// Start on `port` and wait until it answers its health check.
    pub fn start_on(port: u16) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let child = std::process::Command::new(BINARY)
            .arg(format!("-storageDataPath={}", dir.path().display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-loggerLevel=ERROR")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("victoria-metrics is not installed: run `make test-deps`")?;
        let victoria = Self {
            child,
            _dir: dir,
            base: format!("http://127.0.0.1:{port}"),
        };
        let health = format!("{}/health", victoria.base);
        crate::wait::eventually_blocking(Duration::from_secs(60), || {
            anyhow::ensure!(
                http_ok(&health).unwrap_or(false),
                "victoria-metrics did not come up"
            );
            Ok(())
        })?;
        Ok(victoria)
    }

    /// Start on a free port.
    pub fn start() -> Result<Self> {
        Self::start_on(free_port()?)
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

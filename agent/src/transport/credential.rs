//! The host credential: obtained once with a join token, kept in a file only
//! the agent's user can read, sent as a bearer token on every request.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use p2pmon_common::files::write_atomically;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The host identity the aggregator bound the credential to.
    pub host_id: String,
    /// The secret (`p2ph_...`).
    pub credential: String,
    /// The aggregator that issued it, for the operator's information.
    #[serde(default)]
    pub aggregator: String,
}

/// The secret never reaches logs through `{:?}`.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("host_id", &self.host_id)
            .field("credential", &"<redacted>")
            .field("aggregator", &self.aggregator)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credential file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "credential file {path} is not a p2pmon credential ({error}); enroll again with `p2pmon-agent enroll --token ...`"
    )]
    Invalid { path: PathBuf, error: String },
    #[error(
        "credential file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
}

impl Credential {
    /// Read the credential file; `None` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<Self>, CredentialError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CredentialError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|source| CredentialError::Io {
                    path: path.to_path_buf(),
                    source,
                })?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(CredentialError::TooOpen {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let credential: Credential =
            serde_json::from_slice(&bytes).map_err(|e| CredentialError::Invalid {
                path: path.to_path_buf(),
                error: e.to_string(),
            })?;
        if !credential.credential.starts_with("p2ph_") {
            return Err(CredentialError::Invalid {
                path: path.to_path_buf(),
                error: "the secret is not a host credential".to_string(),
            });
        }
        Ok(Some(credential))
    }

    /// Write the credential file (mode 0600), creating its directory.
    pub fn save(&self, path: &Path) -> Result<(), CredentialError> {
        let io = |source| CredentialError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        write_atomically(path, &json).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credential {
        Credential {
            host_id: "host-1".to_string(),
            credential: "p2ph_secret".to_string(),
            aggregator: "http://127.0.0.1:5123".to_string(),
        }
    }

    #[test]
    fn saved_credentials_load_back_and_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/credential");
        assert!(Credential::load(&path).expect("load").is_none());
        sample().save(&path).expect("save");
        let loaded = Credential::load(&path).expect("load").expect("present");
        assert_eq!(loaded.credential, "p2ph_secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(
            !format!("{loaded:?}").contains("secret"),
            "Debug redacts the secret"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_credential_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credential");
        sample().save(&path).expect("save");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = Credential::load(&path).expect_err("refused").to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credential");
        write_atomically(&path, b"p2ph_plain").expect("write");
        let error = Credential::load(&path).expect_err("refused").to_string();
        assert!(error.contains("enroll again"), "{error}");
    }
}

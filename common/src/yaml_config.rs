//! Loading YAML config files so that every problem is reported at once, each
//! with the file and the field it is about.
//!
//! serde stops at the first error. To report them all, the document is parsed
//! into a [`serde_yaml::Value`], deserialised with the failing path recorded,
//! and the failing node is removed before trying again, until the document
//! deserialises. Semantic checks ([`Validate`]) then run on the result and add
//! their own findings. Config types must therefore give every field a serde
//! default, so that a removed node never turns into a "missing field" error;
//! required fields are checked by [`Validate`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path to the field (`plugins[1].interval_ms`), empty for the document.
    pub field: String,
    pub message: String,
}

/// Every problem found in one config file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        write!(
            f,
            "{}: {count} error{}",
            self.file.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            if error.field.is_empty() {
                write!(f, "\n  {}: {}", self.file.display(), error.message)?;
            } else {
                write!(
                    f,
                    "\n  {}: {}: {}",
                    self.file.display(),
                    error.field,
                    error.message
                )?;
            }
        }
        Ok(())
    }
}

/// Collects semantic findings with their field paths.
#[derive(Debug, Default)]
pub struct Findings {
    errors: Vec<FieldError>,
}

impl Findings {
    /// Record a problem with `field`.
    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Check that `value` lies in `range`, naming `field` otherwise.
    pub fn in_range<T: PartialOrd + fmt::Display + Copy>(
        &mut self,
        field: impl Into<String>,
        value: T,
        range: std::ops::RangeInclusive<T>,
    ) {
        if !range.contains(&value) {
            self.error(
                field,
                format!(
                    "{value} is out of range ({} to {})",
                    range.start(),
                    range.end()
                ),
            );
        }
    }
}

/// Semantic validation of a deserialised config.
pub trait Validate {
    /// Check the config; `base_dir` is the directory of the config file, for
    /// resolving relative paths.
    fn validate(&self, base_dir: &Path, findings: &mut Findings);
}

/// How many failing nodes are removed and retried before giving up; bounds
/// the work on a hostile file.
const MAX_PASSES: usize = 64;

/// The folder of config file `path`, absolute, for resolving the relative
/// paths inside it. A bare file name (`--config agent.yml`) has an empty
/// parent, which is the working directory.
pub fn config_dir(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}

/// Read `path` and deserialise it into `T`, reporting every problem at once.
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigErrors> {
    let fail = |message: String| ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![FieldError {
            field: String::new(),
            message,
        }],
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    parse(path, &text)
}

/// Deserialise `text` (the content of `path`) into `T`; see [`load`].
pub fn parse<T: DeserializeOwned + Validate>(path: &Path, text: &str) -> Result<T, ConfigErrors> {
    let mut errors = Vec::new();
    let mut value: Value = match serde_yaml::from_str(text) {
        Ok(Value::Null) => Value::Mapping(Default::default()),
        Ok(value) => value,
        Err(e) => {
            errors.push(FieldError {
                field: String::new(),
                message: format!("not valid YAML: {e}"),
            });
            return Err(ConfigErrors {
                file: path.to_path_buf(),
                errors,
            });
        }
    };

    let mut parsed = None;
    for _ in 0..MAX_PASSES {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(config) => {
                parsed = Some(config);
                break;
            }
            Err(e) => {
                let segments: Vec<_> = e.path().iter().cloned().collect();
                errors.push(FieldError {
                    field: e.path().to_string().trim_start_matches('.').to_string(),
                    message: e.inner().to_string(),
                });
                if !remove_at(&mut value, &segments, e.inner()) {
                    break;
                }
            }
        }
    }

    match parsed {
        Some(config) => {
            let mut findings = Findings { errors };
            config.validate(&config_dir(path), &mut findings);
            if findings.errors.is_empty() {
                Ok(config)
            } else {
                Err(ConfigErrors {
                    file: path.to_path_buf(),
                    errors: findings.errors,
                })
            }
        }
        None => Err(ConfigErrors {
            file: path.to_path_buf(),
            errors,
        }),
    }
}

/// Remove the node an error points at so the next pass gets past it. For an
/// unknown field the path names the map holding it and the key is in the
/// message. Returns false when nothing could be removed.
fn remove_at(
    value: &mut Value,
    path: &[serde_path_to_error::Segment],
    error: &serde_yaml::Error,
) -> bool {
    let message = error.to_string();
    if let Some(key) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    {
        // serde_path_to_error reports the path including the unknown key.
        let parent = match path.last() {
            Some(serde_path_to_error::Segment::Map { key: last }) if last == key => {
                &path[..path.len() - 1]
            }
            _ => path,
        };
        return match node_mut(value, parent) {
            Some(Value::Mapping(map)) => map.remove(key).is_some(),
            _ => false,
        };
    }
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    match (node_mut(value, parent), last) {
        (Some(Value::Mapping(map)), serde_path_to_error::Segment::Map { key }) => {
            map.remove(key.as_str()).is_some()
        }
        (Some(Value::Sequence(seq)), serde_path_to_error::Segment::Seq { index })
            if *index < seq.len() =>
        {
            // Keep indices of later items stable for the messages that follow.
            seq[*index] = Value::Null;
            true
        }
        _ => false,
    }
}

fn node_mut<'a>(
    value: &'a mut Value,
    path: &[serde_path_to_error::Segment],
) -> Option<&'a mut Value> {
    let mut node = value;
    for segment in path {
        node = match (node, segment) {
            (Value::Mapping(map), serde_path_to_error::Segment::Map { key }) => {
                map.get_mut(key.as_str())?
            }
            (Value::Sequence(seq), serde_path_to_error::Segment::Seq { index }) => {
                seq.get_mut(*index)?
            }
            _ => return None,
        };
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        #[serde(default)]
        name: String,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        #[serde(default)]
        #[allow(dead_code)]
        size: u32,
    }

    impl Validate for Demo {
        fn validate(&self, _base: &Path, findings: &mut Findings) {
            if self.name.is_empty() {
                findings.error("name", "is required");
            }
        }
    }

    fn fields(text: &str) -> Vec<String> {
        let errors = parse::<Demo>(Path::new("demo.yml"), text).expect_err("should fail");
        errors.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let mut found =
            fields("count: many\nbogus: 1\nitems:\n  - size: big\n  - size: 3\n    colour: red\n");
        found.sort();
        assert_eq!(
            found,
            vec!["bogus", "count", "items[0].size", "items[1].colour", "name"]
        );
    }

    #[test]
    fn yaml_syntax_error_names_the_file() {
        let errors = parse::<Demo>(Path::new("demo.yml"), "a: [1, 2").expect_err("bad yaml");
        let text = errors.to_string();
        assert!(text.starts_with("demo.yml: 1 error"), "{text}");
        assert!(text.contains("not valid YAML"), "{text}");
    }

    #[test]
    fn valid_document_passes() {
        let demo: Demo = parse(Path::new("demo.yml"), "name: x\ncount: 2\n").expect("valid");
        assert_eq!(demo.count, 2);
        assert_eq!(demo.items.len(), 0);
    }
}

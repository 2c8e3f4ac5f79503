//! Instance files: schema, loading (TOML or JSON, plus the CSV tables they reference) and
//! validation with errors that name the file and field.
//!
//! Paths inside an instance are relative to the instance file. By default an instance in
//! `instances/split/` finds model configs in `../models`, devices in `../devices.csv` and profiled
//! tables in `../profiles`.

pub mod alloc;
pub mod cache;
pub mod collab;
pub mod common;
pub mod green;
pub mod moe;
pub mod paths;
pub mod pipeline;
pub mod split;
pub mod trace;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

pub use crate::files::read_structured;

/// Deserializes an instance document already parsed (a sweep's base instance with its parameters
/// set) into the file type `T`; `path` names the file in errors.
pub fn load_document<T: DeserializeOwned>(document: serde_json::Value, path: &Path) -> Result<T> {
    serde_json::from_value(document).map_err(|e| Error::Syntax {
        path: path.to_path_buf(),
        message: format!(
            "with the sweep's parameters: {}",
            crate::error::one_line(&e.to_string())
        ),
    })
}

/// Which problem an instance file describes (its `problem` field).
pub fn problem_kind(path: &Path) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        problem: Option<String>,
    }
    let text = crate::files::read_text(path)?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let head: Head = if is_json {
        serde_json::from_str(&text).map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            message: format!("invalid JSON: {e}"),
        })?
    } else {
        // Only the `problem` key is read here; the full schema is checked by the problem loader.
        let value: toml::Value = toml::from_str(&text).map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            message: format!(
                "invalid TOML: {}",
                crate::files::toml_message(&e.to_string())
            ),
        })?;
        Head {
            problem: value
                .get("problem")
                .and_then(|v| v.as_str())
                .map(String::from),
        }
    };
    head.problem.ok_or_else(|| {
        Error::field(
            path,
            "problem",
            "missing: expected e.g. problem = \"split\"",
        )
    })
}

/// Resolves `relative` against the directory of `instance`.
pub(crate) fn resolve(instance: &Path, relative: &str) -> PathBuf {
    let rel = Path::new(relative);
    if rel.is_absolute() {
        return rel.to_path_buf();
    }
    instance
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(rel)
}

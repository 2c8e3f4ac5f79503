//! Instance files: schema, loading (TOML or JSON, plus the CSV tables they reference) and
//! validation with errors that name the file and field.
//!
//! Paths inside an instance are relative to the instance file. By default an instance in
//! `instances/split/` finds model configs in `../models`, devices in `../devices.csv` and profiled
//! tables in `../profiles`.

pub mod alloc;
pub mod cache;
pub mod green;
pub mod split;
pub mod trace;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Reads a TOML (`.toml`) or JSON (`.json`) file into `T`.
pub fn read_structured<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let is_json = path
        .extension()
        .map(|e| e.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    if is_json {
        serde_json::from_str(&text).map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            message: format!("invalid JSON: {e}"),
        })
    } else {
        toml::from_str(&text).map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            message: format!("invalid TOML: {}", one_line(&e.to_string())),
        })
    }
}

/// Which problem an instance file describes (its `problem` field).
pub fn problem_kind(path: &Path) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        problem: Option<String>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
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
            message: format!("invalid TOML: {}", one_line(&e.to_string())),
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

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && *l != "^")
        .collect::<Vec<_>>()
        .join(" ")
}

//! Reading TOML and JSON files with errors that name the file (the lowest layer: presets,
//! instances and sweeps all read through it).

use std::path::Path;

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
            message: format!("invalid TOML: {}", toml_message(&e.to_string())),
        })
    }
}

/// The TOML parser's message on one line, without its source excerpt.
pub(crate) fn toml_message(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && *l != "^")
        .collect::<Vec<_>>()
        .join(" ")
}

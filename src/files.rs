//! Reading files with errors that name the file, and with a size limit (the lowest layer:
//! presets, instances, sweeps, CSV tables and plans all read through it): a file larger than
//! [`MAX_FILE_BYTES`], or a device that never ends such as `/dev/zero`, is an error before it
//! is held in memory.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::limits::MAX_FILE_BYTES;

/// The bytes of `path`, at most [`MAX_FILE_BYTES`].
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(path));
    }
    Ok(bytes)
}

/// The text of `path` (UTF-8), at most [`MAX_FILE_BYTES`].
pub fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_bytes(path)?).map_err(|e| Error::Syntax {
        path: path.to_path_buf(),
        message: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// `path` opened for reading, stopping one byte past [`MAX_FILE_BYTES`] (for streaming
/// readers; [`read_bytes`] reports the overflow). A directory is an error here rather than at
/// the first read.
pub fn open(path: &Path) -> Result<std::io::Take<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a directory"),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_char_device() || kind.is_block_device() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a device, not a file"),
            ));
        }
    }
    if meta.is_file() && meta.len() > MAX_FILE_BYTES {
        return Err(too_large(path));
    }
    Ok(file.take(MAX_FILE_BYTES + 1))
}

fn too_large(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than the limit of {} MiB for a file edgeplan reads",
                MAX_FILE_BYTES >> 20
            ),
        ),
    )
}

/// Reads a TOML (`.toml`) or JSON (`.json`) file into `T`.
pub fn read_structured<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_text(path)?;
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
        .filter(|l| !l.is_empty() && !l.starts_with('|') && *l != "^" && !is_excerpt(l))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A source line the TOML parser quotes, `12 | key = ...` (left out: it can be a whole huge
/// line of the file).
fn is_excerpt(line: &str) -> bool {
    line.split_once(" |")
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

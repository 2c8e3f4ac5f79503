//! Standard output and output files.
//!
//! A closed standard output (`edgeplan ... | head`) ends the program quietly with exit code 0,
//! as `head` expects; any other write error (a full disk, an unwritable file) is a bad-input
//! error (exit 2) naming the file.

use std::io::Write;
use std::path::Path;

use edgeplan::Error;

/// Writes `text` to standard output and flushes it.
pub fn stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::io("standard output", e).into()),
    }
}

/// Writes `bytes` to the file `path` (created or truncated).
pub fn file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e).into())
}

/// Formats its arguments and writes them to standard output through [`stdout`] (propagating
/// the error with `?`).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::stdout(&format!($($arg)*))?
    };
}

/// As [`out!`], with a newline.
macro_rules! outln {
    () => {
        $crate::cli::output::stdout("\n")?
    };
    ($($arg:tt)*) => {
        $crate::cli::output::stdout(&format!("{}\n", format_args!($($arg)*)))?
    };
}

pub(crate) use {out, outln};

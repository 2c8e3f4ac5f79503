//! Error types of the library.
//!
//! Every error about user input names the file, and where it can the field or CSV line, and says
//! what was expected. The binary maps [`Error::is_bad_input`] errors to exit code 2.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in edgeplan, apart from an instance being infeasible (which is a
/// normal outcome reported by a solve report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML / JSON / CSV.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, including line and column where known.
        message: String,
    },
    /// A field holds a value that is out of range or inconsistent.
    #[error("{path}: field `{field}`: {message}")]
    Field {
        /// The file the field came from.
        path: PathBuf,
        /// Dotted field path, e.g. `links.wireless.uplink_bps`.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A CSV row is malformed.
    #[error("{path}: line {line}: {message}")]
    CsvLine {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A name that refers to something that does not exist (model, device, solver preset).
    #[error("unknown {what} `{name}`: {hint}")]
    Unknown {
        /// What kind of thing was looked up.
        what: &'static str,
        /// The name given.
        name: String,
        /// Where it was looked for and what exists.
        hint: String,
    },
    /// An option struct failed its own validation.
    #[error("option `{field}`: {message}")]
    Option {
        /// The option.
        field: String,
        /// What was wrong.
        message: String,
    },
    /// The solver failed for a reason that is not a property of the instance.
    #[error("solver error: {0}")]
    Solver(String),
    /// An internal check failed (a non-finite result, an inconsistent plan): a bug, never a
    /// property of valid input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// True when the error is caused by the user's input (exit code 2), false for internal or
    /// solver failures.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Error::Solver(_) | Error::Internal(_))
    }

    /// A [`Error::Field`] error.
    pub fn field(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Field {
            path: path.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Option`] error: option `field` is wrong, `message` says how.
    pub fn option(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Option {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Io`] error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Collapses whitespace (newlines included) onto one line, for one-line error messages.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

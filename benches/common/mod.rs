//! Helpers shared by the benchmarks (each compiles this module with `mod common;` and uses some
//! of it, hence the `dead_code` allowance).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::ExitCode;

/// The exit code of a benchmark's `main` for what its run returned: success, or the error's
/// chain on standard error and exit code 2.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The shipped data, `instances/`.
pub fn instances() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("instances")
}

/// The names given on the command line, or else `defaults`.
pub fn names_or(given: &Option<Vec<String>>, defaults: &[&str]) -> Vec<String> {
    given
        .clone()
        .unwrap_or_else(|| defaults.iter().map(|s| s.to_string()).collect())
}

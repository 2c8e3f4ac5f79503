//! Helpers shared by the command-line tests.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The crate root (where `instances/` lives).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `edgeplan` binary in the crate root.
pub fn edgeplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeplan"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run edgeplan")
}

//! Every example in `examples/` runs to completion from the repository root (they assert their
//! own results: exact equals enumeration, no heuristic beats the optimum or bound, plans pass
//! the evaluator).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate root (the examples run from there).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The examples cargo built next to this test binary (`target/<profile>/examples/`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    profile_dir.join("examples").join(name)
}

#[test]
fn every_example_runs() {
    let dir = root().join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let path = example(name);
        assert!(
            path.exists(),
            "{} was not built (cargo test builds the examples)",
            path.display()
        );
        let out = Command::new(&path).current_dir(root()).output().unwrap();
        assert!(
            out.status.success(),
            "example {name} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "example {name} printed nothing");
    }
}

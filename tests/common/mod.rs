//! Helpers shared by the integration tests (each test binary compiles this module with
//! `mod common;` and uses some of it, hence the `dead_code` allowance).
#![allow(dead_code)]

pub mod oracles;
pub mod pipeline_oracle;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate root (where `instances/` lives).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped data, `instances/`.
pub fn instances() -> PathBuf {
    root().join("instances")
}

/// A file of the shipped data as an absolute path string, for the catalog fields of an instance
/// written elsewhere.
pub fn data_path(name: &str) -> String {
    instances().join(name).display().to_string()
}

/// The built-in solver preset `name`.
pub fn preset(name: &str) -> edgeplan::solve::SolverPreset {
    edgeplan::solve::SolverPreset::builtin(name).expect("built-in preset")
}

/// The shipped device catalog, `instances/devices.csv`.
pub fn catalog() -> edgeplan::costs::DeviceCatalog {
    edgeplan::costs::DeviceCatalog::load(&instances().join("devices.csv")).unwrap()
}

/// The generated instance `name` of `problem` that the repository ships,
/// `instances/<problem>/<name>.toml`.
pub fn shipped_path(problem: &str, name: &str) -> PathBuf {
    instances().join(problem).join(format!("{name}.toml"))
}

/// Writes `text`, the generator's output for the parameters of the shipped instance `name` of
/// `problem`, over that instance (what the ignored `regenerate` tests do).
pub fn write_shipped(problem: &str, name: &str, text: &str) {
    std::fs::create_dir_all(instances().join(problem)).unwrap();
    std::fs::write(shipped_path(problem, name), text).unwrap();
}

/// Asserts that the shipped instance `name` of `problem` is exactly `text`, the generator's
/// output for its parameters, and returns its path.
pub fn assert_shipped_is(problem: &str, name: &str, text: &str) -> PathBuf {
    let path = shipped_path(problem, name);
    assert!(
        std::fs::read_to_string(&path).unwrap() == text,
        "{} differs from the generator's output; rerun the ignored test `regenerate`",
        path.display()
    );
    path
}

/// The files of `instances/<problem>/` whose extension is one of `extensions`, sorted.
pub fn shipped_files(problem: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(instances().join(problem))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| extensions.iter().any(|e| x == *e))
        })
        .collect();
    files.sort();
    files
}

/// Runs the `edgeplan` binary in the crate root.
pub fn edgeplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeplan"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run edgeplan")
}

/// Runs `edgeplan ARGS` and asserts that it succeeds (its standard error in the message).
pub fn edgeplan_ok(args: &[&str]) -> Output {
    let out = edgeplan(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `edgeplan ARGS`, asserts that it succeeds and returns its standard output as JSON.
pub fn edgeplan_json(args: &[&str]) -> serde_json::Value {
    json(&edgeplan_ok(args), args)
}

/// Saves `report`, a report of `solve --json`, as `dir/plan.json` and returns what
/// `edgeplan evaluate INSTANCE dir/plan.json --json` says of it (which must succeed).
pub fn evaluate_report(
    dir: &Path,
    instance: &str,
    report: &serde_json::Value,
) -> serde_json::Value {
    let saved = write(dir, "plan.json", report.to_string());
    edgeplan_json(&["evaluate", instance, saved.to_str().unwrap(), "--json"])
}

/// Calls `check(instance, dir)` for every shipped `.toml` instance of `problem`, of which there
/// must be at least `at_least`; `dir` is a temporary directory for the files it writes.
pub fn for_each_shipped(problem: &str, at_least: usize, mut check: impl FnMut(&str, &Path)) {
    let files = shipped_files(problem, &["toml"]);
    assert!(files.len() >= at_least, "{problem}: {files:?}");
    let dir = tempfile::tempdir().unwrap();
    for f in &files {
        check(f.to_str().unwrap(), dir.path());
    }
}

/// The standard output of `out` as JSON; when it is not, panics naming `what` and showing the
/// standard error.
pub fn json(out: &Output, what: impl std::fmt::Debug) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what:?}: {e}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// Asserts that `err`, the standard error of `what`, is one line starting `error: `.
pub fn assert_one_error_line(what: impl std::fmt::Debug, err: &str) {
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{what:?}: not one line: {err}"
    );
    assert!(err.starts_with("error: "), "{what:?}: {err}");
}

/// Runs `edgeplan ARGS` and asserts bad input: exit code 2 and one line on standard error,
/// starting `error: `, no panic, containing `expect`.
pub fn expect_bad(args: &[&str], expect: &str) {
    let out = edgeplan(args);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_one_error_line(args, &err);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected `{expect}` in: {err}"
    );
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Text replacements, `(from, to)`, each applied once.
pub type Edits<'a> = &'a [(&'a str, &'a str)];

/// The shipped instance `shipped` (a path from the crate root) with `edits` (each `from` must be
/// there), written to `path` with absolute paths to the shipped models, devices and traces (given
/// explicitly when the file left them to their defaults), so that it loads from anywhere.
pub fn variant(path: &Path, shipped: &str, edits: Edits) -> PathBuf {
    let mut text = std::fs::read_to_string(root().join(shipped)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{shipped}: no `{from}`");
        text = text.replacen(from, to, 1);
    }
    let mut text = text
        .replace("../models", &data_path("models"))
        .replace("../devices.csv", &data_path("devices.csv"))
        .replace("../traces", &data_path("traces"));
    if !text.lines().any(|l| l.starts_with("models_dir")) {
        text = format!(
            "models_dir = \"{}\"\ndevices = \"{}\"\n{text}",
            data_path("models"),
            data_path("devices.csv")
        );
    }
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// Runs `edgeplan ARGS -o FILE` for two files in `dir`, asserts that both runs succeed and
/// write the same text (the generator is seeded), and returns the first file.
pub fn generate_twice(dir: &Path, args: &[&str]) -> PathBuf {
    let a = dir.join("a.toml");
    let b = dir.join("b.toml");
    for out in [&a, &b] {
        let mut all = args.to_vec();
        all.extend(["-o", out.to_str().unwrap()]);
        edgeplan_ok(&all);
    }
    assert_eq!(
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap()
    );
    a
}

/// The config of a tiny Llama-style model named `tiny` (4 blocks of width 64, grouped-query
/// attention, 97 tokens) with `mlp` and `norm`; `extra` lines end its `[architecture]`.
pub fn tiny_model(mlp: &str, norm: &str, extra: &str) -> String {
    format!(
        "name = \"tiny\"\nsource = \"test\"\n[architecture]\nlayers = 4\nhidden = 64\n\
         intermediate = 128\nheads = 4\nkv_heads = 2\nvocab = 97\nmlp = \"{mlp}\"\n\
         norm = \"{norm}\"\n{extra}"
    )
}

/// A split inference instance of `model` in fp32, from the configs in `models_dir` on the
/// shipped devices (and with the profiled tables of `profiles_dir`); `rest` follows
/// `mode = "inference"` in `[workload]`: the token counts, then the tiers and links.
pub fn split_instance(
    model: &str,
    models_dir: &Path,
    profiles_dir: Option<&Path>,
    rest: &str,
) -> String {
    let profiles = profiles_dir.map_or(String::new(), |p| {
        format!("profiles_dir = \"{}\"\n", p.display())
    });
    format!(
        "problem = \"split\"\nmodel = \"{model}\"\ndtype = \"fp32\"\nmodels_dir = \"{}\"\n\
         devices = \"{}\"\n{profiles}[workload]\nmode = \"inference\"\n{rest}",
        models_dir.display(),
        data_path("devices.csv"),
    )
}

/// Writes `model`, the config of the model `tiny` (see [`tiny_model`]), to `dir/models/tiny.toml`
/// and a split instance over it (see [`split_instance`]) to `dir/<name>`; returns the instance.
pub fn write_tiny_instance(
    dir: &Path,
    name: &str,
    model: &str,
    profiles_dir: Option<&Path>,
    rest: &str,
) -> PathBuf {
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("tiny.toml"), model).unwrap();
    write(
        dir,
        name,
        split_instance("tiny", &models, profiles_dir, rest),
    )
}

/// The rows of run files by run id, without the time columns (which differ between two
/// executions of the same run); panics if a run appears twice.
pub fn rows_by_run<P: AsRef<Path> + std::fmt::Debug>(
    paths: &[P],
) -> std::collections::BTreeMap<usize, Vec<String>> {
    let mut rows = std::collections::BTreeMap::new();
    for path in paths {
        let path = path.as_ref();
        let mut reader =
            csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        for record in reader.records() {
            let record = record.unwrap();
            let row: Vec<String> = record
                .iter()
                .zip(&header)
                .filter(|(_, h)| !edgeplan::sweep::record::TIME_COLUMNS.contains(&h.as_str()))
                .map(|(c, _)| c.to_string())
                .collect();
            let run: usize = row[0].parse().unwrap();
            assert!(
                rows.insert(run, row).is_none(),
                "run {run} appears twice in {paths:?}"
            );
        }
    }
    rows
}

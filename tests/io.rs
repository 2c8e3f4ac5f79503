//! Output and command-line edge cases: a closed standard output, a full disk, unwritable
//! output paths, the HiGHS log path, usage errors on one line, negative flag values, sweep sizes
//! and files that are not files.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::{edgeplan, expect_bad, root, write};

const SPLIT: &str = "instances/split/llama2-7b-jetson.toml";

/// A closed standard output (`edgeplan ... | head -c 1`) ends quietly with exit code 0: the
/// reader takes one byte and closes the pipe while edgeplan still has output to write.
#[test]
fn closed_stdout_ends_quietly() {
    let cases: &[&[&str]] = &[
        &["solve", SPLIT, "--solver", "enumerate", "--json"],
        &["costs", "llama-2-70b"],
        &["generate", "alloc", "--users", "2000"],
        &["sweep", "instances/sweeps/alloc-users.toml", "--dry-run"],
        &["costs", "--validate"],
    ];
    for args in cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgeplan"))
            .args(*args)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// A full disk is a bad-input error (exit 2) naming the file, for every command that writes one.
#[test]
fn full_disk_names_the_file() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs.csv");
    let sweep = write(
        d.path(),
        "s.toml",
        format!(
            "generate = \"green\"\ndata = \"{}\"\nsolvers = [\"asap\"]\n[fixed]\njobs = 3\nservers = 1\nslots = 4\n",
            root().join("instances").display()
        ),
    );
    let out = edgeplan(&[
        "sweep",
        sweep.to_str().unwrap(),
        "-o",
        runs.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A non-finite number edited into a run file is an error naming the line.
    let text = std::fs::read_to_string(&runs).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let col = lines[0].split(',').position(|c| c == "objective").unwrap();
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    cells[col] = "NaN".into();
    lines[1] = cells.join(",");
    let edited = write(d.path(), "edited.csv", lines.join("\n") + "\n");
    expect_bad(
        &["summarize", edited.to_str().unwrap()],
        "line 2: `objective`: expected a finite number or an empty cell, got `NaN`",
    );
    let runs = runs.to_str().unwrap();
    expect_bad(&["summarize", runs, "-o", "/dev/full"], "/dev/full");
    expect_bad(&["solve", SPLIT, "--solver-log", "/dev/full"], "/dev/full");
    // Standard output on a full disk.
    let out = Command::new(env!("CARGO_BIN_EXE_edgeplan"))
        .args(["solve", SPLIT, "--solver", "enumerate"])
        .current_dir(root())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("standard output: No space left"), "{err}");
    expect_bad(&["summarize", runs, "--merged", "/dev/full"], "/dev/full");
    expect_bad(&["costs", "llama-2-7b", "-o", "/dev/full"], "/dev/full");
    expect_bad(
        &["generate", "green", "--jobs", "3", "--out", "/dev/full"],
        "/dev/full",
    );
}

/// An output path in a folder that does not exist is exit 2 naming it; so is the HiGHS log.
#[test]
fn unwritable_outputs_name_the_file() {
    let missing = "/nonexistent-edgeplan-dir/x";
    expect_bad(
        &[
            "solve",
            SPLIT,
            "--solver-log",
            "/nonexistent-edgeplan-dir/log.txt",
        ],
        "/nonexistent-edgeplan-dir/log.txt",
    );
    expect_bad(
        &[
            "solve",
            SPLIT,
            "--solver",
            "enumerate",
            "--write-model",
            "/tmp/x.txt",
        ],
        "option `--write-model`: /tmp/x.txt: expected a file name ending in .lp or .mps",
    );
    expect_bad(
        &["solve", SPLIT, "--write-model", &format!("{missing}.lp")],
        "/nonexistent-edgeplan-dir/x.lp",
    );
    expect_bad(
        &["costs", "llama-2-7b", "-o", &format!("{missing}.csv")],
        "/nonexistent-edgeplan-dir/x.csv",
    );
    expect_bad(
        &["generate", "alloc", "--out", &format!("{missing}.toml")],
        "/nonexistent-edgeplan-dir/x.toml",
    );
}

/// Usage errors are one line with exit 2; help and version go to standard output with exit 0.
#[test]
fn usage_errors_are_one_line() {
    expect_bad(
        &["solve", SPLIT, "--bogus"],
        "unexpected argument '--bogus'",
    );
    expect_bad(&["solve"], "required");
    expect_bad(&["frobnicate"], "unrecognized subcommand 'frobnicate'");
    expect_bad(
        &["solve", SPLIT, "--threads", "-3"],
        "invalid value '-3' for '--threads",
    );
    expect_bad(
        &[
            "sweep",
            "instances/sweeps/alloc-users.toml",
            "--threads",
            "100000",
        ],
        "option `--threads`: expected an integer in 1..=64",
    );
    expect_bad(
        &[
            "profile", "--model", "gpt2", "--device", "x", "--reps", "1000",
        ],
        "option `--reps`: expected an integer in 1..=100, got 1000",
    );
    let out = edgeplan(&["generate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    common::assert_one_error_line("generate", &err);
    assert!(String::from_utf8_lossy(&out.stdout).contains("alloc"));
    for args in [&["--help"][..], &["--version"], &["solve", "--help"]] {
        let out = edgeplan(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

/// Sweeps: a seed count or a grid beyond the limits is refused before anything is allocated.
#[test]
fn sweep_sizes_are_bounded() {
    let d = tempfile::tempdir().unwrap();
    let data = root().join("instances").display().to_string();
    let head = format!("generate = \"alloc\"\ndata = \"{data}\"\nsolvers = [\"equal-split\"]\n");
    let seeds = write(d.path(), "a.toml", format!("{head}seeds = 4294967296\n"));
    expect_bad(
        &["sweep", seeds.to_str().unwrap(), "--dry-run"],
        "field `seeds`: expected an integer in 1..=1000000, got 4294967296",
    );
    let grid = format!("{head}seeds = 1000\n[grid]\nusers = {{ from = 1, to = 200, step = 1 }}\n");
    let big = write(d.path(), "b.toml", &grid);
    expect_bad(
        &["sweep", big.to_str().unwrap(), "--dry-run"],
        "the sweep has 200 x 1000 x 1 = 200000 runs",
    );
    let raised = write(d.path(), "c.toml", format!("run_limit = 200000\n{grid}"));
    let out = edgeplan(&["sweep", raised.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let too_high = write(d.path(), "d.toml", format!("run_limit = 100000000\n{grid}"));
    expect_bad(
        &["sweep", too_high.to_str().unwrap(), "--dry-run"],
        "field `run_limit`: expected an integer in 1..=10000000",
    );
}

/// A path that names a device or a folder is an error, not an endless read.
#[test]
fn files_that_are_not_files() {
    expect_bad(
        &["solve", "/dev/zero"],
        "/dev/zero: is a device, not a file",
    );
    expect_bad(&["solve", "instances"], "instances: is a directory");
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(SPLIT)).unwrap();
    let inst = write(
        d.path(),
        "i.toml",
        text.replace(
            "problem = \"split\"",
            "problem = \"split\"\ndevices = \"/dev/zero\"",
        )
        .replace(
            "model = ",
            &format!(
                "models_dir = \"{}\"\nmodel = ",
                root().join("instances/models").display()
            ),
        ),
    );
    expect_bad(&["solve", inst.to_str().unwrap()], "/dev/zero: is a device");
}

/// Deeply nested TOML and JSON stop at the parsers' recursion limits with a short error (the
/// TOML parser's excerpt of a huge line is left out).
#[test]
fn deep_nesting_is_a_short_error() {
    let d = tempfile::tempdir().unwrap();
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let toml = write(
        d.path(),
        "deep.toml",
        format!("problem = \"split\"\nx = {deep}\n"),
    );
    let json = write(d.path(), "deep.json", format!("{{\"plan\": {deep}}}"));
    for args in [
        vec!["solve", toml.to_str().unwrap()],
        vec!["evaluate", SPLIT, json.to_str().unwrap()],
    ] {
        let out = edgeplan(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(err.contains("recursion limit exceeded"), "{args:?}: {err}");
        assert!(err.len() < 500, "{args:?}: {} bytes of error", err.len());
    }
}

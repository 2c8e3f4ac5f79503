//! Sweeps: every run exactly once (also after a stop or a SIGKILL and a resume), shards that
//! merge to the unsharded run, failing runs recorded, the exact solvers agreeing inside a sweep,
//! and bad sweep files explained.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeplan::sweep::stats::read_runs;
use edgeplan::sweep::{run_sweep, Shard, Sweep, SweepOptions};

mod common;

use common::{edgeplan, edgeplan_ok, expect_bad, root, rows_by_run};

fn sweep(name: &str) -> Sweep {
    Sweep::load(&root().join("instances/sweeps").join(name)).unwrap()
}

/// Options that resume the run file `path`.
fn resuming(path: &Path) -> SweepOptions {
    SweepOptions {
        resume: true,
        ..SweepOptions::new(path)
    }
}

/// A sweep file in a temporary directory, generators reading the shipped data.
fn sweep_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("s.toml");
    let data = root().join("instances");
    std::fs::write(
        &path,
        text.replace("DATA", &data.display().to_string().replace('\\', "/")),
    )
    .unwrap();
    path
}

/// 2 400 heuristic runs (3 sizes x 200 seeds x 4 solvers of random split instances), stopped
/// after 1 000 and resumed on another thread count: every run is in the file exactly once and
/// every row equals the uninterrupted sweep's.
#[test]
fn a_stopped_sweep_resumes_with_every_run_exactly_once() {
    let sweep = sweep("split-random.toml");
    assert_eq!(sweep.runs(), 2400);
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.csv");
    run_sweep(&sweep, &SweepOptions::new(&whole), &|_| {}).unwrap();
    let parts = dir.path().join("parts.csv");
    let first = run_sweep(
        &sweep,
        &SweepOptions {
            max_runs: Some(1000),
            threads: 2,
            ..SweepOptions::new(&parts)
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(first.ran, 1000);
    assert_eq!(rows_by_run(&[&parts]).len(), 1000);
    let second = run_sweep(
        &sweep,
        &SweepOptions {
            threads: 1,
            ..resuming(&parts)
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!((second.already_done, second.ran), (1000, 1400));
    let expected = rows_by_run(&[whole]);
    assert_eq!(expected.len(), 2400);
    assert_eq!(rows_by_run(&[&parts]), expected);
    // Resuming a complete file runs nothing.
    let third = run_sweep(&sweep, &resuming(&parts), &|_| {}).unwrap();
    assert_eq!(third.ran, 0);
}

/// The command line, killed with SIGKILL in the middle of a 2 000-run heuristic sweep of the
/// allocation problem, then resumed: every run once, rows equal to an uninterrupted sweep's. A
/// half-written last line (a kill during a write) is dropped and its run made again.
#[test]
fn a_killed_sweep_resumes_with_every_run_exactly_once() {
    let spec = "instances/sweeps/alloc-heuristics.toml";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs.csv");
    let out_s = out.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeplan"))
        .args(["sweep", spec, "-o", out_s, "--quiet"])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rows = || {
        std::fs::read_to_string(&out)
            .map(|t| t.lines().count().saturating_sub(1))
            .unwrap_or(0)
    };
    let start = Instant::now();
    while rows() < 600 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = rows();
    assert!(
        (600..2000).contains(&killed_at),
        "killed after {killed_at} rows: the sweep should have been half done"
    );
    // A kill in the middle of a write leaves part of a line.
    let mut text = std::fs::read_to_string(&out).unwrap();
    text.push_str("1999,alloc-heuristics,alloc,alloc-80-us");
    std::fs::write(&out, text).unwrap();
    let resumed = edgeplan_ok(&["sweep", spec, "-o", out_s, "--resume", "--quiet"]);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains("incomplete last line"), "{stderr}");
    assert!(stderr.contains("2000 of 2000 runs done"), "{stderr}");
    let got = rows_by_run(&[&out]);
    assert_eq!(got.len(), 2000);
    assert_eq!(*got.keys().last().unwrap(), 1999);
    let whole = dir.path().join("whole.csv");
    run_sweep(
        &Sweep::load(&root().join(spec)).unwrap(),
        &SweepOptions::new(&whole),
        &|_| {},
    )
    .unwrap();
    assert_eq!(got, rows_by_run(&[whole]));
}

/// Three shards hold disjoint runs that together equal the unsharded sweep, and
/// `read_runs` merges them back in run order (twice the same file: duplicates dropped).
#[test]
fn shards_merge_to_the_unsharded_sweep() {
    for name in ["split-random.toml", "green-slack.toml"] {
        let sweep = sweep(name);
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.csv");
        run_sweep(&sweep, &SweepOptions::new(&whole), &|_| {}).unwrap();
        let mut shards = Vec::new();
        let mut total = 0;
        for i in 0..3 {
            let path = dir.path().join(format!("shard{i}.csv"));
            let s = run_sweep(
                &sweep,
                &SweepOptions {
                    shard: Some(Shard { index: i, count: 3 }),
                    ..SweepOptions::new(&path)
                },
                &|_| {},
            )
            .unwrap();
            total += s.ran;
            shards.push(path);
        }
        assert_eq!(total, sweep.runs(), "{name}");
        // rows_by_run panics on a run in two shards.
        assert_eq!(rows_by_run(&shards), rows_by_run(&[&whole]), "{name}");
        let mut files = shards.clone();
        files.push(shards[0].clone());
        let merged = read_runs(&files).unwrap();
        assert_eq!(merged.rows.len(), sweep.runs());
        assert!(merged.duplicates > 0);
        let ids: Vec<usize> = merged.rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(ids, (0..sweep.runs()).collect::<Vec<_>>());
        let path = dir.path().join("merged.csv");
        merged.write(&path).unwrap();
        assert_eq!(rows_by_run(&[path]), rows_by_run(&[whole]));
    }
}

/// Resuming a shard's file as another shard, or a file of another sweep, is refused with the
/// reason; writing over an existing file needs --force.
#[test]
fn resume_refuses_files_it_did_not_write() {
    let sweep = sweep("green-slack.toml");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s0.csv");
    let shard = |index| SweepOptions {
        shard: Some(Shard { index, count: 2 }),
        ..resuming(&path)
    };
    run_sweep(&sweep, &shard(0), &|_| {}).unwrap();
    let err = run_sweep(&sweep, &shard(1), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("belongs to another shard"), "{err}");
    let other = self::sweep("cache-storage.toml");
    let err = run_sweep(&other, &resuming(&path), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("columns differ"), "{err}");
    let err = run_sweep(&sweep, &SweepOptions::new(&path), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
    let out = edgeplan(&[
        "sweep",
        "instances/sweeps/green-slack.toml",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// A run that fails (here: a device name that does not exist, for half the grid) records its
/// error and the sweep goes on; --retry-errors runs exactly those again.
#[test]
fn failing_runs_record_their_error_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sweep_file(
        dir.path(),
        "generate = \"alloc\"\ndata = \"DATA\"\nseeds = 3\nsolvers = [\"local-search\", \"equal-split\"]\n\
         [grid]\nserver_device = [\"l4\", \"no-such-gpu\"]\nusers = [4, 8]\n",
    );
    let sweep = Sweep::load(&spec).unwrap();
    let out = dir.path().join("runs.csv");
    let summary = run_sweep(&sweep, &SweepOptions::new(&out), &|_| {}).unwrap();
    assert_eq!((summary.ran, summary.errors), (24, 12));
    let runs = read_runs(std::slice::from_ref(&out)).unwrap();
    let (dev, err, term) = (
        runs.column("server_device").unwrap(),
        runs.column("error").unwrap(),
        runs.column("termination").unwrap(),
    );
    for row in &runs.rows {
        if row[dev] == "no-such-gpu" {
            assert!(row[err].contains("no-such-gpu"), "{row:?}");
            assert_eq!(row[term], "error");
        } else {
            assert!(row[err].is_empty(), "{row:?}");
        }
    }
    let again = run_sweep(
        &sweep,
        &SweepOptions {
            retry_errors: true,
            ..resuming(&out)
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!((again.already_done, again.ran, again.errors), (12, 12, 12));
    assert_eq!(rows_by_run(&[out]).len(), 24);
}

/// The uplink sweep of a base instance: at every grid point the MILP (HiGHS) and exhaustive
/// enumeration find the same optimum, every single-tier baseline with a feasible plan is no
/// better, and the overridden parameter reached the instance (latency falls as the uplink grows).
#[test]
fn base_instance_sweep_exact_solvers_agree_at_every_point() {
    let sweep = sweep("split-uplink.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs.csv");
    let summary = run_sweep(&sweep, &SweepOptions::new(&out), &|_| {}).unwrap();
    assert_eq!((summary.ran, summary.errors), (150, 0));
    let runs = read_runs(&[out]).unwrap();
    let col = |n: &str| runs.column(n).unwrap();
    let (up, prompt, solver, obj, status) = (
        col("links.wireless.uplink_bps"),
        col("workload.prompt_tokens"),
        col("solver"),
        col("objective"),
        col("primal_status"),
    );
    let mut by_point: BTreeMap<(String, String), BTreeMap<String, (f64, String)>> = BTreeMap::new();
    for row in &runs.rows {
        by_point
            .entry((row[prompt].clone(), row[up].clone()))
            .or_default()
            .insert(
                row[solver].clone(),
                (row[obj].parse().unwrap_or(f64::NAN), row[status].clone()),
            );
    }
    assert_eq!(by_point.len(), 30);
    let mut optimum_by_prompt: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for ((p, u), solvers) in &by_point {
        let (milp, enumerate) = (solvers["highs"].0, solvers["enumerate"].0);
        assert!(
            (milp - enumerate).abs() <= 1e-6 * enumerate,
            "{p} {u}: {milp} vs {enumerate}"
        );
        for base in ["all-device", "all-edge", "all-cloud"] {
            let (v, s) = &solvers[base];
            if s == "feasible" {
                assert!(*v >= enumerate * (1.0 - 1e-9), "{base} at {p} {u}");
            }
        }
        optimum_by_prompt
            .entry(p.clone())
            .or_default()
            .push((u.parse().unwrap(), enumerate));
    }
    for (p, mut points) in optimum_by_prompt {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            points.windows(2).all(|w| w[1].1 <= w[0].1 * (1.0 + 1e-9)),
            "prompt {p}: latency should not grow with the uplink rate: {points:?}"
        );
        assert!(points[0].1 > points[points.len() - 1].1, "prompt {p}");
    }
}

/// Every shipped sweep loads; the small ones run without a failing run.
#[test]
fn shipped_sweeps_run_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("instances/sweeps")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let sweep = Sweep::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if sweep.runs() > 1000 {
            continue;
        }
        let out = dir.path().join(format!("{}.csv", sweep.name));
        let summary = run_sweep(&sweep, &SweepOptions::new(&out), &|_| {}).unwrap();
        assert_eq!(summary.ran, sweep.runs(), "{}", path.display());
        assert_eq!(summary.errors, 0, "{}", path.display());
    }
}

/// Bad sweep files: the error names the file and the field or grid point, and the CLI exits 2.
#[test]
fn bad_sweep_files_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "generate = \"alloc\"\ndata = \"DATA\"\nsolvers = [\"local-search\"]\n[grid]\nuserz = [1, 2]\n",
            "unknown field `userz`",
        ),
        (
            "generate = \"alloc\"\ndata = \"DATA\"\nsolvers = [\"local-search\"]\n[grid]\nusers = [5, 0]\n",
            "grid point users=0",
        ),
        (
            "generate = \"alloc\"\ndata = \"DATA\"\nsolvers = [\"greedy\"]\n",
            "solvers[0]",
        ),
        (
            "generate = \"alloc\"\ndata = \"DATA\"\nsolvers = [\"no-such-preset\"]\n",
            "no-such-preset",
        ),
        (
            "generate = \"green\"\ndata = \"DATA\"\nsolvers = [\"greedy\"]\n[grid]\nseed = [1, 2]\n",
            "set the seeds with `seeds`",
        ),
        (
            "generate = \"green\"\ndata = \"DATA\"\nsolvers = [\"greedy\"]\n[grid]\njobs = 5\n",
            "[fixed]",
        ),
        (
            "generate = \"mystery\"\nsolvers = [\"greedy\"]\n",
            "unknown problem",
        ),
        (
            "solvers = [\"greedy\"]\n",
            "exactly one of",
        ),
        (
            "base = \"DATA/split/llama2-7b-jetson.toml\"\nsolvers = [\"highs\"]\n[grid]\n\"links.wireless.uplink_bps\" = [1e6, -5.0]\n",
            "uplink_bps",
        ),
        (
            "base = \"DATA/split/llama2-7b-jetson.toml\"\nsolvers = [\"highs\"]\n[grid]\n\"workload.prompt_tokenz\" = [1, 2]\n",
            "prompt_tokenz",
        ),
    ];
    for (text, expected) in cases {
        let path = sweep_file(dir.path(), text);
        let err = Sweep::load(&path).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}\n-> {err}");
        assert!(
            err.contains("s.toml") || err.contains("llama2-7b-jetson"),
            "{err}"
        );
        let out = edgeplan(&["sweep", path.to_str().unwrap(), "--dry-run"]);
        assert_eq!(out.status.code(), Some(2), "{text}");
    }
    expect_bad(
        &[
            "sweep",
            "instances/sweeps/green-slack.toml",
            "--shard",
            "3/3",
        ],
        "0 <= i < n",
    );
}

/// `summarize` merges shard files and prints, per group, the count, mean, std and Student-t
/// interval; the CSV it writes holds the same numbers as the library's statistics.
#[test]
fn summarize_merges_shards_and_writes_the_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..2 {
        let path = dir.path().join(format!("s{i}.csv"));
        edgeplan_ok(&[
            "sweep",
            "instances/sweeps/cache-storage.toml",
            "--shard",
            &format!("{i}/2"),
            "-o",
            path.to_str().unwrap(),
            "--quiet",
        ]);
        files.push(path.to_str().unwrap().to_string());
    }
    let summary = dir.path().join("summary.csv");
    let mut args = vec!["summarize"];
    args.extend(files.iter().map(String::as_str));
    args.extend([
        "--by",
        "storage_bytes,solver",
        "--metric",
        "hit_ratio",
        "--out",
        summary.to_str().unwrap(),
    ]);
    let out = edgeplan_ok(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("300 runs, 30 groups"), "{text}");
    assert!(text.contains("95% CI low"), "{text}");
    let mut reader = csv::Reader::from_path(&summary).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 30);
    // Recompute one group by hand from the merged rows.
    let merged = read_runs(&files.iter().map(PathBuf::from).collect::<Vec<_>>()).unwrap();
    let (s, v, h) = (
        merged.column("storage_bytes").unwrap(),
        merged.column("solver").unwrap(),
        merged.column("hit_ratio").unwrap(),
    );
    let values: Vec<f64> = merged
        .rows
        .iter()
        .filter(|r| r[s] == "3000000000.0" && r[v] == "greedy")
        .map(|r| r[h].parse().unwrap())
        .collect();
    assert_eq!(values.len(), 10);
    let (mean, std, ci) = edgeplan::sweep::stats::mean_ci(&values, 0.95);
    let row = rows
        .iter()
        .find(|r| &r[0] == "3000000000.0" && &r[1] == "greedy")
        .unwrap();
    let cell = |i: usize| row[i].parse::<f64>().unwrap();
    assert_eq!(&row[3], "10");
    approx::assert_relative_eq!(cell(5), mean, max_relative = 1e-12);
    approx::assert_relative_eq!(cell(6), std.unwrap(), max_relative = 1e-12);
    approx::assert_relative_eq!(cell(7), ci.unwrap().0, max_relative = 1e-12);
    // t_{0.975, 9} = 2.2622 (standard t table).
    approx::assert_relative_eq!(
        cell(8) - mean,
        2.2622 * std.unwrap() / 10f64.sqrt(),
        max_relative = 1e-4
    );
    expect_bad(
        &["summarize", &files[0], "--by", "userz"],
        "no column `userz`",
    );
}

//! Sweeps as Slurm job arrays, against a real `slurmctld` and `slurmd`: the shipped
//! `scripts/slurm/submit.sh` submits `sweep-array.sh` (one shard per array task) and a
//! `merge-shards.sh` job that waits for the array (`afterok`). The tests are ignored because a
//! plain `cargo test` has no Slurm; `.ci/test-slurm` starts a one-node cluster (`.ci/slurm-up`),
//! runs them with `--ignored --test-threads=1` and stops it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{root, rows_by_run};

/// How long a job may take to finish, queueing included, before a test gives up.
const JOB_TIMEOUT: Duration = Duration::from_secs(180);

/// Job states after which a job runs no more (`scontrol show job`'s `JobState`).
const FINISHED: [&str; 10] = [
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "SPECIAL_EXIT",
];

/// Runs a Slurm command and returns its standard output; panics with its error otherwise.
fn slurm(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (is Slurm installed? run .ci/test-slurm)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics unless a Slurm controller answers and has a node that can run jobs.
fn require_cluster() {
    let states = slurm("sinfo", &["-h", "-N", "-o", "%T"]);
    assert!(
        states
            .lines()
            .any(|s| ["idle", "mixed", "allocated", "completing"].contains(&s.trim())),
        "no usable Slurm node (sinfo: {states:?}); start one with .ci/slurm-up"
    );
}

/// The jobs a test submitted; cancelled when the test ends, so a failing test leaves no job
/// queued for the next.
#[derive(Default)]
struct Jobs(Vec<String>);

impl Drop for Jobs {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("scancel").args(&self.0).output();
        }
    }
}

/// `scripts/slurm/submit.sh SWEEP SHARDS OUTDIR OPTIONS...` with the binary under test:
/// returns the array job's id and the merge job's.
fn submit(
    jobs: &mut Jobs,
    sweep: &Path,
    shards: usize,
    outdir: &Path,
    options: &[&str],
) -> (String, String) {
    let out = Command::new(root().join("scripts/slurm/submit.sh"))
        .arg(sweep)
        .arg(shards.to_string())
        .arg(outdir)
        .args(options)
        .env("EDGEPLAN", env!("CARGO_BIN_EXE_edgeplan"))
        // Both jobs ask for little memory, whatever the machine has.
        .env("SBATCH_MEM_PER_NODE", "512M")
        .current_dir(outdir)
        .output()
        .expect("run scripts/slurm/submit.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "submit.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = stdout.split_whitespace().map(String::from).collect();
    assert!(
        ids.len() == 2 && ids.iter().all(|id| id.parse::<u64>().is_ok()),
        "submit.sh printed {stdout:?}, not two job ids"
    );
    jobs.0.extend(ids.iter().cloned());
    (ids[0].clone(), ids[1].clone())
}

/// One record of `scontrol show job -o`: an array task (pending tasks share one), or a job that
/// is not an array (`task` empty). Times are `YYYY-MM-DDTHH:MM:SS`, `Unknown` before they happen.
#[derive(Debug)]
struct Record {
    task: String,
    state: String,
    dependency: String,
    start: String,
    end: String,
}

/// The records of `scontrol show job -o JOB`.
fn job_records(job: &str) -> Vec<Record> {
    let text = slurm("scontrol", &["show", "job", "-o", job]);
    let records: Vec<Record> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                    .unwrap_or_default()
                    .to_string()
            };
            Record {
                task: field("ArrayTaskId"),
                state: field("JobState"),
                dependency: field("Dependency"),
                start: field("StartTime"),
                end: field("EndTime"),
            }
        })
        .collect();
    assert!(!records.is_empty(), "scontrol knows no job {job}");
    records
}

/// Waits until every task of `job` has finished and returns their records. Panics after
/// `JOB_TIMEOUT`, with the queue and the jobs' logs.
fn wait_for(job: &str, outdir: &Path) -> Vec<Record> {
    let start = Instant::now();
    loop {
        let records = job_records(job);
        if records.iter().all(|r| FINISHED.contains(&r.state.as_str())) {
            return records;
        }
        assert!(
            start.elapsed() < JOB_TIMEOUT,
            "job {job} has not finished after {JOB_TIMEOUT:?}: {records:?}\nsqueue:\n{}\n{}",
            slurm("squeue", &[]),
            logs(outdir)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The state of each record by array task id (the key is empty for a job that is not an array).
fn states(records: &[Record]) -> BTreeMap<String, String> {
    records
        .iter()
        .map(|r| (r.task.clone(), r.state.clone()))
        .collect()
}

/// `{"": state}`: the states of a job that is not an array, all in `state`.
fn single(state: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(String::new(), state.to_string())])
}

/// The jobs' logs under `outdir/logs/`, for failure messages.
fn logs(outdir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(outdir.join("logs"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| {
            format!(
                "--- {}\n{}",
                f.display(),
                std::fs::read_to_string(f).unwrap_or_default()
            )
        })
        .collect()
}

/// `{0: "COMPLETED", 1: "COMPLETED", ...}` for array tasks `ids`, all in `state`.
fn all(ids: std::ops::Range<usize>, state: &str) -> BTreeMap<String, String> {
    ids.map(|i| (i.to_string(), state.to_string())).collect()
}

/// The complete lines of a run file after its header (a task killed while writing may leave a
/// partial last line, which `--resume` drops).
fn complete_rows(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().skip(1).map(String::from).collect()
}

/// The shard files `outdir/NAME.shard-i-of-SHARDS.csv`.
fn shard_files(outdir: &Path, name: &str, shards: usize) -> Vec<PathBuf> {
    (0..shards)
        .map(|i| outdir.join(format!("{name}.shard-{i}-of-{shards}.csv")))
        .collect()
}

/// The sweep of the Slurm example in docs/sweeps.md, `alloc-heuristics` (2 000 heuristic runs: 4 sizes x 100 seeds x 5
/// solvers), as a 4-task array: every task completes and writes its own shard (disjoint runs,
/// all four non-empty), the merge job runs after them, and the merged file equals an unsharded
/// `edgeplan sweep` of the same file row for row (the heuristics are deterministic; only the
/// time columns differ).
#[test]
#[ignore = "needs a Slurm cluster: run .ci/test-slurm"]
fn a_job_array_merges_to_the_unsharded_sweep() {
    require_cluster();
    let sweep = root().join("instances/sweeps/alloc-heuristics.toml");
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path();
    let mut jobs = Jobs::default();
    let (array, merge) = submit(&mut jobs, &sweep, 4, outdir, &["--cpus-per-task=1"]);

    // The merge job waits for the array (2 000 runs take seconds).
    let waiting = job_records(&merge);
    assert_eq!(waiting[0].state, "PENDING", "{waiting:?}");
    assert!(
        waiting[0]
            .dependency
            .starts_with(&format!("afterok:{array}_*")),
        "{waiting:?}"
    );
    let tasks = wait_for(&array, outdir);
    assert_eq!(states(&tasks), all(0..4, "COMPLETED"), "{}", logs(outdir));
    let merged = wait_for(&merge, outdir);
    assert_eq!(states(&merged), single("COMPLETED"), "{}", logs(outdir));
    let last_end = tasks.iter().map(|t| &t.end).max().unwrap();
    assert!(&merged[0].start >= last_end, "{merged:?} {tasks:?}");
    let shards = shard_files(outdir, "alloc-heuristics", 4);
    let mut sharded = 0;
    for (i, shard) in shards.iter().enumerate() {
        let rows = rows_by_run(std::slice::from_ref(shard)).len();
        assert!(rows > 0, "shard {i} is empty");
        sharded += rows;
        let log =
            std::fs::read_to_string(outdir.join(format!("logs/edgeplan-sweep-{array}_{i}.out")))
                .unwrap();
        assert!(log.contains(&format!("shard {i}/4 of ")), "{log}");
    }
    // rows_by_run panics on a run in two shards.
    assert_eq!(rows_by_run(&shards).len(), sharded);

    let whole = outdir.join("whole.csv");
    common::edgeplan_ok(&[
        "sweep",
        sweep.to_str().unwrap(),
        "-o",
        whole.to_str().unwrap(),
        "--quiet",
    ]);
    let expected = rows_by_run(&[whole]);
    assert_eq!(expected.len(), 2000);
    assert_eq!(
        rows_by_run(&[outdir.join("alloc-heuristics.csv")]),
        expected
    );
    assert!(outdir.join("alloc-heuristics.summary.csv").is_file());
}

/// `tests/data/slurm-slow.toml` (40 time-limited exact solves) as a 4-task array; task 1 is
/// cancelled (`scancel ARRAY_1`) once its shard has a row. The merge job, which waits for every
/// task to succeed, is then cancelled by Slurm and merges nothing. Resubmitting index 1 alone
/// (`--array=1`) resumes its file: the rows written before the cancel stay as they were, the
/// rest of the shard is added, and the new merge job's file holds every run exactly once.
#[test]
#[ignore = "needs a Slurm cluster: run .ci/test-slurm"]
fn a_cancelled_array_task_resumes_when_resubmitted() {
    require_cluster();
    let sweep = root().join("tests/data/slurm-slow.toml");
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path();
    let mut jobs = Jobs::default();
    let (array, merge) = submit(&mut jobs, &sweep, 4, outdir, &["--cpus-per-task=1"]);
    let shards = shard_files(outdir, "slurm-slow", 4);

    // Cancel task 1 once its shard holds a row (a run takes up to 0.5 s, its shard 10 runs).
    let start = Instant::now();
    while complete_rows(&shards[1]).is_empty() {
        let records = job_records(&array);
        assert!(
            !records
                .iter()
                .any(|r| r.task == "1" && FINISHED.contains(&r.state.as_str())),
            "task 1 ended before its first row was seen: {records:?}\n{}",
            logs(outdir)
        );
        assert!(
            start.elapsed() < JOB_TIMEOUT,
            "task 1 wrote no row in {JOB_TIMEOUT:?}: {records:?}\n{}",
            logs(outdir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    slurm("scancel", &[&format!("{array}_1")]);

    let mut expected = all(0..4, "COMPLETED");
    expected.insert("1".into(), "CANCELLED".into());
    assert_eq!(
        states(&wait_for(&array, outdir)),
        expected,
        "{}",
        logs(outdir)
    );
    let never = wait_for(&merge, outdir);
    assert_eq!(states(&never), single("CANCELLED"), "{never:?}");
    assert!(
        !outdir.join("slurm-slow.csv").exists(),
        "merged without shard 1"
    );
    let before = complete_rows(&shards[1]);
    assert!(!before.is_empty());

    let (again, merge_again) = submit(
        &mut jobs,
        &sweep,
        4,
        outdir,
        &["--cpus-per-task=1", "--array=1"],
    );
    let resumed = wait_for(&again, outdir);
    assert_eq!(states(&resumed), all(1..2, "COMPLETED"), "{}", logs(outdir));
    let merge_records = wait_for(&merge_again, outdir);
    assert_eq!(
        states(&merge_records),
        single("COMPLETED"),
        "{}",
        logs(outdir)
    );

    // The rows from before the cancel were kept (times included), and the task added the rest.
    let after = complete_rows(&shards[1]);
    assert!(
        after.len() > before.len(),
        "task 1 had finished its shard before it was cancelled ({} rows); the test needs a slower sweep",
        before.len()
    );
    assert_eq!(after[..before.len()], before[..]);
    let log =
        std::fs::read_to_string(outdir.join(format!("logs/edgeplan-sweep-{again}_1.out"))).unwrap();
    assert!(
        log.contains(&format!("{} already in the file", before.len())),
        "{log}"
    );

    let merged = rows_by_run(&[outdir.join("slurm-slow.csv")]);
    assert_eq!(
        merged.keys().copied().collect::<Vec<_>>(),
        (0..40).collect::<Vec<_>>()
    );
    assert_eq!(rows_by_run(&shards), merged);
    let mut reader = csv::Reader::from_path(outdir.join("slurm-slow.csv")).unwrap();
    let termination = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "termination");
    for record in reader.records() {
        let record = record.unwrap();
        let end = &record[termination.expect("a termination column")];
        assert!(["optimal", "limit_reached"].contains(&end), "{record:?}");
    }
}

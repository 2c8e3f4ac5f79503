//! Batch parameter sweeps: a grid of generator or instance parameters x seeds x solver presets,
//! run in parallel, one tidy CSV row per run, resumable and shardable; and the statistics of
//! the rows ([`stats`]).
//!
//! [`Sweep::load`] reads a sweep file ([`spec`] documents its format), [`run_sweep`] runs it. Runs
//! are numbered in grid point x seed x solver order; an *instance* (a grid point and a seed) is
//! built once and solved by every preset. Instances run in parallel on a rayon pool, each HiGHS
//! solve on one thread. Each finished run appends one complete line to the CSV ([`record`]), so
//! an interrupted sweep resumes ([`SweepOptions::resume`]) by running exactly the runs without a
//! row. A failing run (an error or a panic in a generator or solver) records its message in the
//! `error` column and the sweep goes on.
//!
//! A shard `i/n` runs the instances whose index is `i` modulo `n` (all solvers of an instance
//! stay in one shard); the `n` shard files together hold every run exactly once, and
//! [`stats::read_runs`] merges them.
//!
//! ```
//! use edgeplan::sweep::{run_sweep, Sweep, SweepOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let spec = dir.path().join("tiny.toml");
//! std::fs::write(&spec, format!(
//!     "generate = \"green\"\ndata = \"{}\"\nseeds = 2\nsolvers = [\"greedy\", \"asap\"]\n\
//!      [fixed]\nslots = 8\n[grid]\njobs = [2, 4]\n",
//!     std::fs::canonicalize("instances")?.display()))?;
//! let sweep = Sweep::load(&spec)?;
//! assert_eq!(sweep.runs(), 8); // 2 grid points x 2 seeds x 2 solvers
//! let out = dir.path().join("tiny.csv");
//! let summary = run_sweep(&sweep, &SweepOptions::new(&out), &|_| {})?;
//! assert_eq!((summary.ran, summary.errors), (8, 0));
//! assert_eq!(std::fs::read_to_string(&out)?.lines().count(), 9); // header + 8 rows
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod record;
pub mod run;
pub mod spec;
pub mod stats;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

pub use spec::{Problem, Sweep};

use crate::error::{one_line, Error, Result};
use record::RowWriter;

/// Shard `index` of `count` (0 <= index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
}

impl Shard {
    /// Parses `i/n` with `0 <= i < n` (Slurm: `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`
    /// with `--array=0-<n-1>`).
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || {
            Error::option(
                "shard",
                format!("expected i/n with 0 <= i < n, e.g. 0/4; got `{text}`"),
            )
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether instance `unit` belongs to this shard.
    pub fn has(&self, unit: usize) -> bool {
        unit % self.count == self.index
    }
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The CSV to write.
    pub output: PathBuf,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Run only this shard.
    pub shard: Option<Shard>,
    /// Continue an existing output file: run only the runs without a row.
    pub resume: bool,
    /// Replace an existing output file (without `resume`).
    pub overwrite: bool,
    /// With `resume`, run again the runs whose row records an error (their rows are dropped).
    pub retry_errors: bool,
    /// Stop after this many runs (the rest is left for a later `resume`).
    pub max_runs: Option<usize>,
}

impl SweepOptions {
    /// Defaults: all cores, no shard, a new file at `output`.
    pub fn new(output: &Path) -> SweepOptions {
        SweepOptions {
            output: output.to_path_buf(),
            threads: 0,
            shard: None,
            resume: false,
            overwrite: false,
            retry_errors: false,
            max_runs: None,
        }
    }
}

/// Progress after each finished run.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Runs finished by this invocation.
    pub done: usize,
    /// Runs this invocation has to do.
    pub total: usize,
    /// Of the finished runs, those that recorded an error.
    pub errors: usize,
}

/// What [`run_sweep`] did.
#[derive(Debug, Clone)]
pub struct SweepSummary {
    /// Runs in the sweep (or in the shard).
    pub runs: usize,
    /// Runs already in the file when resuming.
    pub already_done: usize,
    /// Runs made now.
    pub ran: usize,
    /// Of those, runs that recorded an error.
    pub errors: usize,
    /// Whether an incomplete last line of a killed sweep was dropped (that run ran again).
    pub dropped_partial_line: bool,
    /// Wall-clock time, s.
    pub wall_s: f64,
}

/// Runs `sweep` (or its shard) into `options.output`, calling `progress` after every row.
pub fn run_sweep(
    sweep: &Sweep,
    options: &SweepOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SweepSummary> {
    let start = Instant::now();
    let shard = options.shard.unwrap_or(Shard { index: 0, count: 1 });
    let solvers = sweep.solvers.len();
    let (done, writer) = open_output(sweep, options, shard)?;
    let work = pending_work(sweep, shard, &done);
    let runs_in_shard = (0..sweep.instances()).filter(|&u| shard.has(u)).count() * solvers;
    let pending: usize = work.iter().map(|(_, p)| p.len()).sum();
    let total = options.max_runs.map_or(pending, |m| m.min(pending));
    let workers = Workers {
        sweep,
        progress,
        total,
        writer: Mutex::new(writer),
        started: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        errors: AtomicUsize::new(0),
        write_error: Mutex::new(None),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| Error::option("threads", e.to_string()))?;
    pool.install(|| {
        work.into_iter()
            .par_bridge()
            .for_each(|(unit, pending)| workers.run_unit(unit, pending))
    });
    if let Some(e) = workers.write_error.into_inner().unwrap() {
        return Err(e);
    }
    Ok(SweepSummary {
        runs: runs_in_shard,
        already_done: done.runs.len(),
        ran: workers.finished.into_inner(),
        errors: workers.errors.into_inner(),
        dropped_partial_line: done.dropped_partial_line,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

/// The runs already in the output (when resuming; rows of errors dropped to retry them) and
/// the writer that appends to it, or a new output with its header; an error when the output
/// exists and neither resuming nor overwriting.
fn open_output(
    sweep: &Sweep,
    options: &SweepOptions,
    shard: Shard,
) -> Result<(record::Done, RowWriter)> {
    let out = &options.output;
    let solvers = sweep.solvers.len();
    let in_shard = |run: usize| shard.has(run / solvers);
    let exists = out.exists();
    if options.resume && exists {
        let mut done = record::read_done(out, sweep, &in_shard)?;
        if options.retry_errors && !done.errors.is_empty() {
            record::drop_rows(out, &done.errors)?;
            for run in &done.errors {
                done.runs.remove(run);
            }
        }
        return Ok((done, RowWriter::append(out)?));
    }
    if exists && !options.overwrite && !options.resume {
        return Err(Error::option(
            "output",
            format!(
                "{} exists: resume it with --resume, or replace it with --force",
                out.display()
            ),
        ));
    }
    Ok((
        record::Done::default(),
        RowWriter::create(out, &record::header(sweep))?,
    ))
}

/// Pending work of the shard, per instance (unit): the solvers without a row in `done`.
fn pending_work(sweep: &Sweep, shard: Shard, done: &record::Done) -> Vec<(usize, Vec<usize>)> {
    (0..sweep.instances())
        .filter(|&u| shard.has(u))
        .map(|u| {
            let pending: Vec<usize> = (0..sweep.solvers.len())
                .filter(|&s| !done.runs.contains(&sweep.run_id(u, s)))
                .collect();
            (u, pending)
        })
        .filter(|(_, pending)| !pending.is_empty())
        .collect()
}

/// What the worker threads of a sweep share: the output, the run counts and the first write
/// error.
struct Workers<'a> {
    sweep: &'a Sweep,
    progress: &'a (dyn Fn(Progress) + Sync),
    /// Runs this invocation may start (`--max-runs`).
    total: usize,
    writer: Mutex<RowWriter>,
    /// Runs claimed.
    started: AtomicUsize,
    /// Runs written.
    finished: AtomicUsize,
    /// Runs that recorded an error.
    errors: AtomicUsize,
    write_error: Mutex<Option<Error>>,
}

impl Workers<'_> {
    /// Builds instance `unit` (timed, in s) and runs its `pending` solvers on it, one row each,
    /// while runs are left to claim and no write has failed.
    fn run_unit(&self, unit: usize, pending: Vec<usize>) {
        let sweep = self.sweep;
        if self.started.load(Ordering::SeqCst) >= self.total
            || self.write_error.lock().unwrap().is_some()
        {
            return;
        }
        let (point, seed_index) = sweep.unit(unit);
        let seed = sweep.seeds[seed_index];
        let t0 = Instant::now();
        let instance = catch_unwind(AssertUnwindSafe(|| {
            run::build_instance(sweep, sweep.parameters_at(point, seed))
        }))
        .map_err(panic_message)
        .and_then(|r| r.map_err(|e| format!("instance: {}", one_line(&e.to_string()))));
        let generate_s = t0.elapsed().as_secs_f64();
        for s in pending {
            // Claim one of the `total` runs (`--max-runs` may stop the sweep early).
            if self.started.fetch_add(1, Ordering::SeqCst) >= self.total {
                return;
            }
            let run = sweep.run_id(unit, s);
            let mut preset = sweep.solvers[s].clone();
            preset.seed = seed;
            let (name, result) = match &instance {
                Ok(inst) => (
                    inst.name().to_string(),
                    catch_unwind(AssertUnwindSafe(|| run::solve(inst, &preset)))
                        .map_err(panic_message)
                        .and_then(|r| r.map_err(|e| one_line(&e.to_string()))),
                ),
                Err(message) => (String::new(), Err(message.clone())),
            };
            if result.is_err() {
                self.errors.fetch_add(1, Ordering::SeqCst);
            }
            let cells = record::row(sweep, run, &name, generate_s, &result);
            if let Err(e) = self.writer.lock().unwrap().write(&cells) {
                self.write_error.lock().unwrap().get_or_insert(e);
                return;
            }
            let done = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
            (self.progress)(Progress {
                done,
                total: self.total,
                errors: self.errors.load(Ordering::SeqCst),
            });
        }
    }
}

/// The message of a caught panic.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    format!("panic: {}", one_line(&text))
}

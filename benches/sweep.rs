//! Sweep throughput (docs/sweeps.md): runs per second of the parallel runner on one and on
//! two threads, and the speed-up, for shipped sweeps of heuristic runs.
//!
//! Run (release profile):
//!
//! ```text
//! cargo bench --bench sweep                                  # the default sweeps, 3 repetitions
//! cargo bench --bench sweep -- --sweeps alloc-heuristics --reps 5 --threads 1,2
//! ```
//!
//! Each measurement runs a whole sweep into a fresh CSV (instance generation, every solver, the
//! independent evaluation and the row writes included) and takes the median wall time of
//! `--reps` repetitions. **Columns**: `runs`, `ms/run` (per run, one thread), then runs/s for each
//! thread count and the speed-up of the largest thread count over one thread. The machine has
//! 2 cores; the target is a speed-up of at least 1.8 on 2 threads.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use edgeplan::sweep::{run_sweep, Sweep, SweepOptions};

mod common;

#[derive(Parser, Debug)]
#[command(about = "Sweep throughput benchmark (see the header of benches/sweep.rs)")]
struct Args {
    /// Sweep names in instances/sweeps (comma-separated).
    #[arg(long, value_delimiter = ',')]
    sweeps: Option<Vec<String>>,
    /// Thread counts (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Repetitions per measurement (median taken).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const SWEEPS: [&str; 5] = [
    "alloc-heuristics",
    "split-random",
    "alloc-users",
    "cache-storage",
    "green-slack",
];

fn main() -> ExitCode {
    common::exit(run())
}

fn run() -> Result<()> {
    let args = Args::parse();
    let names = common::names_or(&args.sweeps, &SWEEPS);
    let dir = tempfile::tempdir()?;
    let sweeps = common::instances().join("sweeps");
    let mut header = format!("{:<18} {:>6} {:>8}", "sweep", "runs", "ms/run");
    for t in &args.threads {
        header.push_str(&format!(" {:>12}", format!("runs/s @{t}")));
    }
    header.push_str(&format!(" {:>9}", "speed-up"));
    println!("{header}");
    for name in &names {
        let path = sweeps.join(format!("{name}.toml"));
        let sweep = Sweep::load(&path).with_context(|| format!("loading {}", path.display()))?;
        let mut rates = Vec::new();
        for &threads in &args.threads {
            let mut times = Vec::with_capacity(args.reps);
            for rep in 0..args.reps.max(1) {
                let out = dir.path().join(format!("{name}-{threads}-{rep}.csv"));
                let options = SweepOptions {
                    threads,
                    ..SweepOptions::new(&out)
                };
                let summary = run_sweep(&sweep, &options, &|_| {})?;
                anyhow::ensure!(summary.ran == sweep.runs(), "{name}: not every run ran");
                times.push(summary.wall_s);
            }
            times.sort_by(f64::total_cmp);
            rates.push(sweep.runs() as f64 / times[times.len() / 2]);
        }
        let mut line = format!("{:<18} {:>6} {:>8.3}", name, sweep.runs(), 1e3 / rates[0]);
        for r in &rates {
            line.push_str(&format!(" {:>12.1}", r));
        }
        line.push_str(&format!(" {:>8.2}x", rates[rates.len() - 1] / rates[0]));
        println!("{line}");
    }
    Ok(())
}

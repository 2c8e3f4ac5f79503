//! The planner against real execution (issue: profiled cost tables): for each shipped replay
//! instance (`instances/split/replay-<model>-local.toml`, every tier this machine's CPU with its
//! profiled table), several split plans are executed for real by `edgeplan::replay` and the
//! measured end-to-end latency is compared with the planner's prediction.
//!
//! Run (release profile; the profiles must have been measured with the same `--threads`):
//!
//! ```text
//! cargo bench --bench replay                          # gpt2, qwen2.5-0.5b, tinyllama-1.1b
//! cargo bench --bench replay -- --models gpt2 --threads 2
//! ```
//!
//! **Plans** per model with `n` table rows: all on the device; the embedding on the device and
//! the rest on the edge; cuts after 1/4, 1/2 and 3/4 of the rows; the cut just before the head;
//! a device | edge | cloud plan at 1/3 and 2/3; everything on the edge (token ids cross).
//! **Columns**: the cuts `c1,c2` (rows `0..c1` device, `c1..c2` edge, the rest cloud), the
//! planner's latency, the measured one, `measured / planner - 1`, the measured compute (all
//! tiers), and the payload bytes of the first cut in prefill and per decode step (measured =
//! planner in every row, or the row is flagged). The last line per model is the median absolute
//! error over its plans.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use edgeplan::problems::split::SplitPlan;
use edgeplan::replay::{instance_architecture, replay, ReplayOptions};

mod common;

#[derive(Parser, Debug)]
#[command(about = "Replay benchmark (see the header of benches/replay.rs)")]
struct Args {
    /// Models (comma-separated).
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Threads of the matrix products (default: one per core, as `edgeplan profile`).
    #[arg(long)]
    threads: Option<usize>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    common::exit(run())
}

fn run() -> Result<()> {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let models = common::names_or(&args.models, &["gpt2", "qwen2.5-0.5b", "tinyllama-1.1b"]);
    let instances = common::instances();
    println!(
        "{:<15} {:>7} {:>10} {:>10} {:>8} {:>10} {:>12} {:>10}",
        "model", "cuts", "planner_s", "measured_s", "error", "compute_s", "cut_prefill", "cut_step"
    );
    for model in &models {
        let path = instances.join(format!("split/replay-{model}-local.toml"));
        let problem = edgeplan::instance::split::load(&path)
            .with_context(|| format!("loading {}", path.display()))?;
        anyhow::ensure!(
            problem.tiers.iter().flatten().all(|t| t.profile.is_some()),
            "{model}: a tier has no profiled table; run `edgeplan profile --model {model} \
             --device epyc-zen4-2vcpu --threads {threads}` first"
        );
        let arch = instance_architecture(&path)?.architecture;
        let n = problem.layers();
        let plans = [
            (n, n),
            (1, n),
            (n / 4, n),
            (n / 2, n),
            (3 * n / 4, n),
            (n - 1, n),
            (n / 3, 2 * n / 3),
            (0, n),
        ];
        let mut errors = Vec::new();
        for (c1, c2) in plans {
            let options = ReplayOptions { threads, seed: 0 };
            let plan = SplitPlan::from_cuts(n, c1, c2);
            let r = replay(&problem, &arch, &plan, &options)?;
            let compute: f64 = r.tiers.iter().map(|t| t.compute_s).sum();
            let (prefill, step) =
                r.cuts_traffic
                    .first()
                    .map_or(("-".to_string(), "-".to_string()), |c| {
                        let flag = |ok: bool| if ok { "" } else { "!" };
                        (
                            format!(
                                "{}{}",
                                c.bytes_prefill,
                                flag(c.bytes_prefill as f64 == c.predicted_bytes_prefill)
                            ),
                            format!(
                                "{}{}",
                                c.bytes_per_decode_step,
                                flag(
                                    Some(c.bytes_per_decode_step as f64)
                                        == c.predicted_bytes_per_decode_step
                                )
                            ),
                        )
                    });
            println!(
                "{:<15} {:>7} {:>10.4} {:>10.4} {:>7.1}% {:>10.4} {:>12} {:>10}",
                model,
                format!("{c1},{c2}"),
                r.predicted_s,
                r.measured_s,
                100.0 * r.error,
                compute,
                prefill,
                step
            );
            errors.push(r.error.abs());
        }
        errors.sort_by(f64::total_cmp);
        println!(
            "{:<15} median |error| over {} plans: {:.1}%, largest {:.1}%",
            model,
            errors.len(),
            100.0 * errors[errors.len() / 2],
            100.0 * errors[errors.len() - 1]
        );
    }
    Ok(())
}

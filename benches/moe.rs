//! Mixture-of-experts placement and expert caching (docs/moe.md) at the sizes papers use: the
//! exact MILP's time and gap, the greedy's distance to the optimum and its time, and the gain of
//! frequency-aware plans over the frequency-blind baselines (round-robin, layer-wise) and of the
//! static cache over LRU and LFU, over the routing skew.
//!
//! Run (release profile):
//!
//! ```text
//! cargo bench --bench moe
//! cargo bench --bench moe -- [--cases mixtral-8n,olmoe-16n,...] [--skews 0,1,2] [--seed 1]
//!     [--repeats 3] [--limit 60] [--csv FILE]
//! ```
//!
//! **Instances.** One per case and skew, drawn by the generator (`edgeplan generate moe`, the
//! parameters of [`CASES`], defaults otherwise: a 512-token routing trace, 512 prompt and 128
//! generated tokens, seed `--seed`).
//!
//! **Columns** (`-`: not available). Ratios are objective / the MILP's objective.
//!
//! | column | meaning |
//! |---|---|
//! | `case`, `task`, `objective`, `skew` | the case, task, objective and routing skew |
//! | `blocks`, `experts`, `k`, `nodes`, `patterns` | MoE blocks, experts per block, experts per token, nodes, distinct routing patterns |
//! | `milp_s`, `milp_end`, `gap` | preset `highs` with `--limit`: median wall time of `--repeats` runs, termination, final relative gap |
//! | `greedy_ms`, `greedy` | the greedy: median time (ms), its ratio |
//! | `rr`, `lw` | round-robin's and layer-wise's ratios |
//! | `lru`, `lfu` | cache: the simulated LRU and LFU caches' mean latency over the MILP's |

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use edgeplan::costs::DeviceCatalog;
use edgeplan::instance::moe::generate::{generate, GenParams};
use edgeplan::problems::moe::evaluate::dynamic_baselines;
use edgeplan::problems::moe::price::Prices;
use edgeplan::problems::moe::solve::solve;
use edgeplan::problems::moe::MoeProblem;
use edgeplan::solve::milp::RunOptions;
use edgeplan::solve::SolverPreset;

mod common;

/// A case: name, task, model, dtype, nodes, objective, home device (placement) or edge server
/// (cache), usable memory share.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    usize,
    &'static str,
    &'static str,
    f64,
);

/// The cases.
const CASES: [Case; 8] = [
    (
        "mixtral-4n",
        "placement",
        "mixtral-8x7b",
        "q4",
        4,
        "latency",
        "rtx-4090",
        0.75,
    ),
    (
        "mixtral-8n",
        "placement",
        "mixtral-8x7b",
        "q4",
        8,
        "latency",
        "rtx-4090",
        0.75,
    ),
    (
        "mixtral-8n-tp",
        "placement",
        "mixtral-8x7b",
        "q4",
        8,
        "throughput",
        "rtx-4090",
        0.75,
    ),
    (
        "olmoe-16n",
        "placement",
        "olmoe-1b-7b",
        "fp16",
        16,
        "latency",
        "jetson-agx-orin-64gb",
        0.1,
    ),
    (
        "deepseek-16n",
        "placement",
        "deepseek-moe-16b",
        "q4",
        16,
        "latency",
        "jetson-agx-orin-64gb",
        0.1,
    ),
    (
        "mixtral-cache",
        "cache",
        "mixtral-8x7b",
        "q4",
        2,
        "latency",
        "rtx-4090",
        0.75,
    ),
    (
        "olmoe-cache",
        "cache",
        "olmoe-1b-7b",
        "fp16",
        2,
        "latency",
        "rtx-4090",
        0.75,
    ),
    (
        "qwen-cache",
        "cache",
        "qwen1.5-moe-a2.7b",
        "q4",
        2,
        "latency",
        "rtx-4090",
        0.75,
    ),
];

#[derive(Parser, Debug)]
#[command(about = "MoE placement and cache benchmark (see the header of benches/moe.rs)")]
struct Args {
    /// Cases (names of CASES), comma-separated.
    #[arg(long, value_delimiter = ',')]
    cases: Option<Vec<String>>,
    /// Routing skews, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    skews: Vec<f64>,
    /// Instance seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs per timing (median).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Time limit of the MILP, s.
    #[arg(long, default_value_t = 60.0)]
    limit: f64,
    /// Also write the rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// Objective of `solver` (median time over `repeats` runs), termination and gap.
fn run(
    problem: &MoeProblem,
    solver: &str,
    limit: f64,
    repeats: usize,
) -> Result<(f64, Option<f64>, String, Option<f64>)> {
    let mut preset = SolverPreset::builtin(solver).context("preset")?;
    if solver == "highs" {
        preset.time_limit_s = Some(limit);
    }
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let report = solve(problem, &preset, &RunOptions::default())?;
        times.push(start.elapsed().as_secs_f64());
        last = Some(report);
    }
    let r = last.expect("one run");
    let objective = r
        .evaluation
        .as_ref()
        .filter(|e| e.feasible())
        .map(|e| e.objective);
    Ok((
        median(times),
        objective,
        r.stats.termination.name().to_string(),
        r.stats.gap,
    ))
}

fn main() -> ExitCode {
    common::exit(bench(Args::parse()))
}

fn bench(args: Args) -> Result<()> {
    let root = common::instances();
    let catalog = DeviceCatalog::load(&root.join("devices.csv"))?;
    let wanted = common::names_or(&args.cases, &CASES.map(|c| c.0));
    let header = "case,task,objective,skew,blocks,experts,k,nodes,patterns,milp_s,milp_end,gap,\
                  greedy_ms,greedy,rr,lw,lru,lfu";
    println!("{header}");
    let mut csv = String::from(header);
    csv.push('\n');
    for name in &wanted {
        let Some(&(case, task, model, dtype, nodes, objective, home, share)) =
            CASES.iter().find(|c| c.0 == name)
        else {
            anyhow::bail!("unknown case {name}");
        };
        for &skew in &args.skews {
            let params = GenParams {
                task: task.into(),
                nodes,
                seed: args.seed,
                model: model.into(),
                dtype: dtype.into(),
                objective: objective.into(),
                skew,
                home_device: home.into(),
                memory_share: share,
                ..GenParams::default()
            };
            let problem = generate(&params, &catalog, &root.join("models"))?;
            let first = &problem.model.blocks[problem.moe_blocks()[0]];
            let (milp_s, opt, end, gap) = run(&problem, "highs", args.limit, args.repeats)?;
            let (greedy_s, greedy, _, _) = run(&problem, "greedy", args.limit, args.repeats)?;
            let (_, rr, _, _) = run(&problem, "round-robin", args.limit, 1)?;
            let (_, lw, _, _) = run(&problem, "layer-wise", args.limit, 1)?;
            let ratio = |v: Option<f64>| match (v, opt) {
                (Some(v), Some(o)) if o > 0.0 => Some(v / o),
                _ => None,
            };
            let (lru, lfu) = dynamic_baselines(&problem, &Prices::new(&problem))
                .map(|(a, b)| (Some(a.mean_latency_s), Some(b.mean_latency_s)))
                .unwrap_or((None, None));
            let mut row = String::new();
            let _ = write!(
                row,
                "{case},{task},{objective},{skew},{},{},{},{},{},{:.2},{end},{},{:.1},{},{},{},{},{}",
                problem.moe_blocks().len(),
                first.experts,
                first.top_k,
                problem.node_count(),
                problem.routing.pattern_count(),
                milp_s,
                fmt(gap, 5),
                greedy_s * 1e3,
                fmt(ratio(greedy), 4),
                fmt(ratio(rr), 4),
                fmt(ratio(lw), 4),
                fmt(ratio(lru), 4),
                fmt(ratio(lfu), 4),
            );
            println!("{row}");
            std::io::stdout().flush().ok();
            csv.push_str(&row);
            csv.push('\n');
        }
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

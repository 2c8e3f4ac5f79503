//! Small/large model collaboration (docs/collab.md) at a realistic size: 100 users, 5 variants,
//! 4 modes (device, edge, cascade, speculative) with draft lengths 1-8 and escalations
//! 0.1-0.5, on random instances of [`testing::random_problem`] (synthetic models, random
//! devices, deadlines and channels: `random`) and on the generator's instances (`generate
//! collab` with its defaults: real models and their MMLU scores, `generated`): the exact
//! MILP's time to a proven 1% gap and to optimality, the greedy's time and distance to the
//! optimum, and the baselines' ratios.
//!
//! Run (release profile):
//!
//! ```text
//! cargo bench --bench collab
//! cargo bench --bench collab -- [--seeds 1,2,3] [--users 100] [--blocks 100]
//!     [--objectives quality,served] [--kinds random,generated] [--repeats 3] [--limit 60]
//! ```
//!
//! **Columns** (`-`: not available). Ratios are the primary objective (weighted mean quality,
//! or weighted share served) over the optimum's (or the best MILP plan's when the limit
//! stopped it).
//!
//! | column | meaning |
//! |---|---|
//! | `kind`, `seed`, `objective` | the instance's family (`random`, `generated`), seed and objective |
//! | `options` | undominated feasible options over all users (MILP columns `x`) |
//! | `vars`, `bin`, `rows` | the MILP's size |
//! | `pct1_s`, `pct1_end` | the MILP (both stages) at `mip_rel_gap = 0.01`, the greedy's start included: wall time, termination of stage 1 |
//! | `opt_s`, `opt_end`, `gap` | the same to optimality (`mip_rel_gap = 1e-9`, `--limit`): wall time, termination, stage 1's final gap |
//! | `greedy_ms`, `greedy` | the greedy: median time of `--repeats` runs (ms), its ratio |
//! | `dev`, `edge`, `casc` | all-device's, all-edge's and cascade-fixed's ratios |
//! | `opt` | the optimum's primary objective |

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;

use edgeplan::costs::device::DeviceCatalog;
use edgeplan::instance::collab::generate::{generate, GenParams};
use edgeplan::problems::collab::baselines;
use edgeplan::problems::collab::greedy::greedy;
use edgeplan::problems::collab::milp::{choice_score, milp, MilpOutcome};
use edgeplan::problems::collab::price::Options;
use edgeplan::problems::collab::testing::{random_problem, Shape};
use edgeplan::problems::collab::{CollabProblem, ModeKind, Objective};
use edgeplan::solve::milp::MipOptions;

mod common;

#[derive(Parser, Debug)]
#[command(about = "collaboration benchmark (see the header of benches/collab.rs)")]
struct Args {
    /// Instance seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Users.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Resource blocks of the edge.
    #[arg(long, default_value_t = 100)]
    blocks: usize,
    /// Objectives, comma-separated (`quality`, `served`).
    #[arg(long, value_delimiter = ',', default_value = "quality,served")]
    objectives: Vec<String>,
    /// Instance families, comma-separated (`random`, `generated`).
    #[arg(long, value_delimiter = ',', default_value = "random,generated")]
    kinds: Vec<String>,
    /// Runs per greedy timing (median).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Time limit of the MILP, s.
    #[arg(long, default_value_t = 60.0)]
    limit: f64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// The MILP with the greedy's start under `gap` and `limit` (the greedy's time included):
/// wall time and outcome.
fn exact(
    problem: &CollabProblem,
    options: &Options,
    gap: f64,
    limit: f64,
) -> Result<(f64, MilpOutcome)> {
    let t0 = Instant::now();
    let start = greedy(problem, options);
    let mip = MipOptions {
        mip_rel_gap: gap,
        time_limit_s: Some((limit - t0.elapsed().as_secs_f64()).max(0.01)),
        ..MipOptions::default()
    };
    let out = milp(problem, options, &mip, start.as_deref())?;
    Ok((t0.elapsed().as_secs_f64(), out))
}

fn main() -> ExitCode {
    common::exit(bench(Args::parse()))
}

fn bench(args: Args) -> Result<()> {
    let catalog = DeviceCatalog::load(&common::instances().join("devices.csv"))?;
    println!(
        "{:>9} {:>4} {:>8} {:>7} {:>6} {:>6} {:>5} {:>7} {:>13} {:>7} {:>13} {:>8} {:>9} {:>7} {:>6} {:>6} {:>6} {:>8}",
        "kind", "seed", "objective", "options", "vars", "bin", "rows", "pct1_s", "pct1_end", "opt_s",
        "opt_end", "gap", "greedy_ms", "greedy", "dev", "edge", "casc", "opt"
    );
    for kind in &args.kinds {
        for name in &args.objectives {
            let objective = Objective::parse(name)
                .ok_or_else(|| anyhow::anyhow!("unknown objective {name}"))?;
            for &seed in &args.seeds {
                let shape = Shape {
                    users: args.users,
                    variants: 5,
                    modes: vec![
                        ModeKind::Device,
                        ModeKind::Edge,
                        ModeKind::Cascade,
                        ModeKind::Speculative,
                    ],
                    draft_lengths: (1..=8).collect(),
                    escalations: vec![0.1, 0.2, 0.3, 0.4, 0.5],
                    resource_blocks: args.blocks,
                    objective,
                };
                let problem = match kind.as_str() {
                    "random" => random_problem(&catalog, &shape, seed),
                    "generated" => {
                        let params = GenParams {
                            users: args.users,
                            seed,
                            resource_blocks: args.blocks,
                            objective: objective.name().to_string(),
                            ..GenParams::default()
                        };
                        generate(&params, &catalog, &common::instances())?
                    }
                    other => anyhow::bail!("unknown instance kind {other}"),
                };
                let options = Options::build(&problem);
                let n_options: usize = options.options.iter().map(|o| o.len()).sum();
                let (pct1_s, pct1) = exact(&problem, &options, 0.01, args.limit)?;
                let (opt_s, opt) = exact(&problem, &options, 1e-9, args.limit)?;
                let best = opt
                    .choice
                    .as_deref()
                    .and_then(|c| choice_score(&problem, &options, c))
                    .map(|s| s.primary);
                let gap = match (best, opt.bound) {
                    (Some(o), Some(b)) => Some((b - o).abs() / o.abs().max(1e-12)),
                    _ => None,
                };
                let mut times = Vec::new();
                let mut g = None;
                for _ in 0..args.repeats.max(1) {
                    let t0 = Instant::now();
                    g = greedy(&problem, &options);
                    times.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                times.sort_by(f64::total_cmp);
                let greedy_ms = times[times.len() / 2];
                let ratio = |v: Option<f64>| match (v, best) {
                    (Some(v), Some(o)) if o > 0.0 => Some(v / o),
                    _ => None,
                };
                let g_ratio = ratio(
                    g.as_deref()
                        .and_then(|c| choice_score(&problem, &options, c))
                        .map(|s| s.primary),
                );
                let base = |name: &str| {
                    ratio(
                        baselines::baseline(&problem, name)
                            .flatten()
                            .map(|c| baselines::score_of(&problem, &c).primary),
                    )
                };
                let size = opt.size;
                println!(
                "{:>9} {:>4} {:>8} {:>7} {:>6} {:>6} {:>5} {:>7.2} {:>13} {:>7.2} {:>13} {:>8} {:>9.1} {:>7} {:>6} {:>6} {:>6} {:>8}",
                kind,
                seed,
                objective.name(),
                n_options,
                size.map_or("-".into(), |s| s.variables.to_string()),
                size.map_or("-".into(), |s| s.binaries.to_string()),
                size.map_or("-".into(), |s| s.rows.to_string()),
                pct1_s,
                format!("{}({:.1}+{:.1})", pct1.termination.name(), pct1.stage_s[0], pct1.stage_s[1]),
                opt_s,
                format!(
                    "{}/{}({:.1}+{:.1})",
                    opt.termination.name(),
                    opt.tie_break.map_or("-", |t| t.name()),
                    opt.stage_s[0],
                    opt.stage_s[1]
                ),
                fmt(gap, 5),
                greedy_ms,
                fmt(g_ratio, 4),
                fmt(base("all-device"), 3),
                fmt(base("all-edge"), 3),
                fmt(base("cascade-fixed"), 3),
                fmt(best, 3),
            );
            }
        }
    }
    Ok(())
}

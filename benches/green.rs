//! Green scheduling (docs/green.md) at scale: MILP size and time to optimality (time
//! limited) with its gap, the greedy's carbon relative to the MILP, and the carbon the MILP and
//! the greedy save against the as-soon-as-possible baseline.
//!
//! Run (release profile):
//!
//! ```text
//! cargo bench --bench green                       # the default configurations
//! cargo bench --bench green -- --quick            # three small ones, 20 s limit
//! cargo bench --bench green -- --configs 50x48x5 [--seed 1] [--load 0.25] [--limit 60]
//! ```
//!
//! **Instances** from the seeded generator ([`edgeplan::instance::green::generate`]) with its
//! defaults and `--load` (0.25): configurations are JOBSxSLOTSxSERVERS, the slots cover one day
//! (24 hourly, 48 half-hourly, 96 quarter-hourly). **Columns**: `bins`, `cons` of the MILP;
//! `milp_s`, `gap`, `end` of preset `highs` with time limit `--limit` (`opt`, `limit`, `infeas`,
//! `none`); `greedy/milp` the greedy's carbon over the MILP's (`-` when either has no schedule);
//! `greedy_ms`; `saved milp`, `saved greedy`: carbon saved against ASAP, `1 - x / asap` (ASAP
//! may miss deadlines: `asap_ok` says whether it met them all).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

use edgeplan::instance::green::generate::{generate, GenParams};
use edgeplan::problems::green::solve::solve;
use edgeplan::solve::{PrimalStatus, SolverPreset, Termination};

mod common;

#[derive(Parser, Debug)]
#[command(about = "Green scheduling benchmark (see the header of benches/green.rs)")]
struct Args {
    /// Configurations JOBSxSLOTSxSERVERS, comma-separated.
    #[arg(long, value_delimiter = ',')]
    configs: Option<Vec<String>>,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Generator load.
    #[arg(long, default_value_t = 0.25)]
    load: f64,
    /// MILP time limit, s (default 60; 20 with --quick).
    #[arg(long)]
    limit: Option<f64>,
    /// Three small configurations.
    #[arg(long)]
    quick: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const CONFIGS: [&str; 9] = [
    "10x24x1",
    "10x24x2",
    "20x48x2",
    "50x48x5",
    "50x96x5",
    "100x96x5",
    "100x96x10",
    "200x96x10",
    "200x24x10",
];
const QUICK: [&str; 3] = ["10x24x1", "10x24x2", "20x48x2"];

fn main() -> ExitCode {
    common::exit(run(&Args::parse()))
}

fn run(args: &Args) -> Result<()> {
    let instances = common::instances();
    let configs = common::names_or(&args.configs, if args.quick { &QUICK } else { &CONFIGS });
    let limit = args.limit.unwrap_or(if args.quick { 20.0 } else { 60.0 });
    println!(
        "{:>4} {:>5} {:>3} | {:>6} {:>6} | {:>7} {:>8} {:>6} | {:>11} {:>9} | {:>10} {:>12} {:>7}",
        "jobs",
        "slots",
        "srv",
        "bins",
        "cons",
        "milp_s",
        "gap",
        "end",
        "greedy/milp",
        "greedy_ms",
        "saved milp",
        "saved greedy",
        "asap_ok"
    );
    for text in &configs {
        let parts: Vec<usize> = text
            .split('x')
            .map(|p| p.parse().with_context(|| format!("configuration `{text}`")))
            .collect::<Result<_>>()?;
        let [jobs, slots, servers] = parts[..] else {
            bail!("configuration `{text}`: expected JOBSxSLOTSxSERVERS");
        };
        let params = GenParams {
            jobs,
            servers,
            slots,
            slot_s: 86400.0 / slots as f64,
            seed: args.seed,
            load: args.load,
            ..GenParams::default()
        };
        let problem = generate(&params, &instances)?;
        let mut highs = SolverPreset::builtin("highs").context("highs preset")?;
        highs.time_limit_s = Some(limit);
        let t = Instant::now();
        let exact = solve(&problem, &highs)?;
        let milp_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let greedy = solve(
            &problem,
            &SolverPreset::builtin("greedy").context("greedy")?,
        )?;
        let greedy_ms = 1e3 * t.elapsed().as_secs_f64();
        let asap = solve(&problem, &SolverPreset::builtin("asap").context("asap")?)?;
        let feasible = |r: &edgeplan::problems::green::solve::GreenReport| {
            (r.stats.primal_status == PrimalStatus::Feasible)
                .then_some(r.stats.objective)
                .flatten()
        };
        let asap_carbon = asap.stats.objective.unwrap_or(f64::NAN);
        let saved = |v: Option<f64>| {
            v.map_or("-".to_string(), |v| {
                format!("{:.1}%", 100.0 * (1.0 - v / asap_carbon))
            })
        };
        let end = match exact.stats.termination {
            Termination::Optimal => "opt",
            Termination::Infeasible => "infeas",
            Termination::LimitReached if exact.plan.is_some() => "limit",
            _ => "none",
        };
        let (_, bins, cons) = exact.details.milp_size.unwrap_or((0, 0, 0));
        let ratio = match (feasible(&greedy), feasible(&exact)) {
            (Some(g), Some(m)) if m > 0.0 => format!("{:.3}", g / m),
            _ => "-".into(),
        };
        println!(
            "{jobs:>4} {slots:>5} {servers:>3} | {bins:>6} {cons:>6} | {milp_s:>7.1} {:>8} {end:>6} | \
             {ratio:>11} {greedy_ms:>9.1} | {:>10} {:>12} {:>7}",
            exact
                .stats
                .gap
                .map_or("-".into(), |g| format!("{:.2}%", 100.0 * g)),
            saved(feasible(&exact)),
            saved(feasible(&greedy)),
            if asap.stats.primal_status == PrimalStatus::Feasible {
                "yes"
            } else {
                "no"
            },
        );
        std::io::stdout().flush()?;
    }
    Ok(())
}

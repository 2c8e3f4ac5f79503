//! Cache placement (docs/cache.md) at scale: MILP size, build time, HiGHS to 1% and to
//! optimality (time-limited), and the greedy, local search and baselines against the MILP.
//!
//! Run (release profile):
//!
//! ```text
//! cargo bench --bench cache                      # the default configurations (about 15 min)
//! cargo bench --bench cache -- --quick           # three small ones, short limits
//! cargo bench --bench cache -- --configs 10x100x500 [--seed 1] [--limit-1pct 60]
//!     [--limit-opt 120] [--storage 4e9] [--zipf 0.8] [--backhaul 1e9] [--csv FILE]
//! ```
//!
//! **Instances** come from the seeded generator ([`edgeplan::instance::cache::generate`]) with
//! its defaults (six small base LLMs, 60% LoRA, 25% top-layer and 15% full variants, 4 GB per
//! server, 20 MHz per user, 20-120 s latency limits, Zipf 0.8) and the configuration's
//! servers x models x users.
//!
//! **Columns.** `dem` aggregated demands; `bins`, `cons` binaries and rows of the MILP;
//! `build_s` demands plus MILP build; `1pct_s`, `1pct_gap`, `1pct` preset `highs-1pct` (time
//! limit `--limit-1pct`): wall time, proven gap, termination; `opt_*` the same for preset
//! `highs` (gap 1e-9) with `--limit-opt`. Hit ratios are fractions of the **best bound** (the
//! smallest HiGHS upper bound), so they are lower bounds on the fraction of the optimum; where a
//! run is optimal the bound is the optimum. `greedy`, `ls` (greedy + drop-and-refill local
//! search), `indep` (independent caching), `pop`, `rand`: hit ratio / best bound, with the
//! greedy's and local search's times in ms. `share` is the gain of sharing-aware over
//! independent caching, `greedy / indep - 1`. Termination: `opt` (proven within the preset's
//! gap), `limit` (time limit, plan kept), `none` (no plan).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

use edgeplan::costs::DeviceCatalog;
use edgeplan::instance::cache::generate::{generate, GenParams};
use edgeplan::problems::cache::solve::{solve, CacheReport};
use edgeplan::problems::cache::CacheProblem;
use edgeplan::solve::{SolverPreset, Termination};

mod common;

#[derive(Parser, Debug)]
#[command(about = "Cache placement benchmark (see the header of benches/cache.rs)")]
struct Args {
    /// Configurations SERVERSxMODELSxUSERS, comma-separated.
    #[arg(long, value_delimiter = ',')]
    configs: Option<Vec<String>>,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time limit of the `highs-1pct` run, s (default 60; 10 with --quick).
    #[arg(long)]
    limit_1pct: Option<f64>,
    /// Time limit of the `highs` run, s (default 120; 20 with --quick).
    #[arg(long)]
    limit_opt: Option<f64>,
    /// Storage per server, bytes.
    #[arg(long, default_value_t = 4e9)]
    storage: f64,
    /// Zipf skew.
    #[arg(long, default_value_t = 0.8)]
    zipf: f64,
    /// Backhaul rate for relaying, bit/s (default: none).
    #[arg(long)]
    backhaul: Option<f64>,
    /// Three small configurations with short limits.
    #[arg(long)]
    quick: bool,
    /// Also write the rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Default configurations: the issue's target (10 x 100 x 500) and the largest shipped size.
const CONFIGS: [&str; 6] = [
    "4x20x50",
    "10x50x200",
    "10x100x500",
    "20x100x500",
    "10x300x1000",
    "20x300x1000",
];
const QUICK: [&str; 3] = ["4x20x50", "10x50x200", "10x100x500"];

fn main() -> ExitCode {
    common::exit(run(&Args::parse()))
}

/// `SERVERSxMODELSxUSERS` as three counts.
fn parse_config(text: &str) -> Result<(usize, usize, usize)> {
    let parts: Vec<&str> = text.split('x').collect();
    let [s, m, u] = parts[..] else {
        bail!("configuration `{text}`: expected SERVERSxMODELSxUSERS, e.g. 10x100x500");
    };
    let num = |p: &str| -> Result<usize> {
        p.parse()
            .with_context(|| format!("configuration `{text}`: `{p}` is not a count"))
    };
    Ok((num(s)?, num(m)?, num(u)?))
}

/// The built-in preset `name` with a time limit of `limit` s.
fn preset(name: &str, limit: f64) -> Result<SolverPreset> {
    let mut p = SolverPreset::builtin(name).with_context(|| format!("preset {name}"))?;
    p.time_limit_s = Some(limit);
    Ok(p)
}

/// A report's termination in the table's words.
fn end(report: &CacheReport) -> &'static str {
    match report.stats.termination {
        Termination::Optimal => "opt",
        Termination::LimitReached if report.plan.is_some() => "limit",
        Termination::LimitReached => "none",
        _ => "other",
    }
}

/// Generates each configuration's instance, runs every solver on it, prints (and writes) its row.
fn run(args: &Args) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("instances");
    let catalog = DeviceCatalog::load(&root.join("devices.csv"))?;
    let models_dir = root.join("models");
    let default: Vec<String> = if args.quick {
        QUICK.iter().map(|s| s.to_string()).collect()
    } else {
        CONFIGS.iter().map(|s| s.to_string()).collect()
    };
    let configs = args.configs.clone().unwrap_or(default);
    let limit_1pct = args
        .limit_1pct
        .unwrap_or(if args.quick { 10.0 } else { 60.0 });
    let limit_opt = args
        .limit_opt
        .unwrap_or(if args.quick { 20.0 } else { 120.0 });
    let mut csv = match &args.csv {
        Some(path) => Some(create_csv(path)?),
        None => None,
    };
    print_header();
    for text in &configs {
        let (servers, models, users) = parse_config(text)?;
        let params = GenParams {
            servers,
            models,
            users,
            seed: args.seed,
            storage_bytes: args.storage,
            zipf_skew: args.zipf,
            backhaul_bps: args.backhaul,
            ..GenParams::default()
        };
        let problem = generate(&params, &catalog, &models_dir)?;
        let runs = Runs::measure(&problem, limit_1pct, limit_opt)?;
        runs.print(servers, models, users);
        if let Some(f) = csv.as_mut() {
            runs.write_csv(f, (servers, models, users), args.seed)?;
        }
        std::io::stdout().flush()?;
    }
    Ok(())
}

/// Creates the CSV file at `path` with its header.
fn create_csv(path: &Path) -> Result<std::fs::File> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(
        f,
        "servers,models,users,seed,demands,binaries,constraints,build_s,pct_s,pct_gap,\
         pct_end,opt_s,opt_gap,opt_end,best_bound,greedy,greedy_s,local_search,ls_s,\
         independent,popularity,random"
    )?;
    Ok(f)
}

/// Prints the table's header.
fn print_header() {
    println!(
        "{:>3} {:>4} {:>5} | {:>6} {:>5} {:>6} {:>8} | {:>7} {:>7} {:>5} | {:>7} {:>7} {:>5} | \
         {:>14} {:>14} {:>6} {:>6} {:>6} {:>6}",
        "srv",
        "mod",
        "users",
        "dem",
        "bins",
        "cons",
        "build_s",
        "1pct_s",
        "1pct_gap",
        "1pct",
        "opt_s",
        "opt_gap",
        "opt",
        "greedy (ms)",
        "ls (ms)",
        "indep",
        "share",
        "pop",
        "rand"
    );
}

/// Hit ratio of a report's plan (0 without one).
fn hit(r: &CacheReport) -> f64 {
    r.stats.objective.unwrap_or(0.0)
}

/// A report's proven gap in percent, `-` without one.
fn gap(r: &CacheReport) -> String {
    r.stats
        .gap
        .map_or("-".to_string(), |g| format!("{:.3}%", 100.0 * g))
}

/// Every solver's run on one instance, with wall times in seconds.
struct Runs {
    pct: CacheReport,
    pct_s: f64,
    opt: CacheReport,
    opt_s: f64,
    greedy: CacheReport,
    greedy_s: f64,
    ls: CacheReport,
    ls_s: f64,
    indep: CacheReport,
    pop: CacheReport,
    rand: CacheReport,
    /// The smallest HiGHS upper bound on the hit ratio (infinite without one).
    best_bound: f64,
}

impl Runs {
    /// Solves `problem` with `highs-1pct` (time limit `limit_1pct` s), then `highs` and every
    /// heuristic (time limit `limit_opt` s).
    fn measure(problem: &CacheProblem, limit_1pct: f64, limit_opt: f64) -> Result<Runs> {
        let timed = |name: &str| -> Result<(CacheReport, f64)> {
            let t = Instant::now();
            let r = solve(problem, &preset(name, limit_opt)?)?;
            Ok((r, t.elapsed().as_secs_f64()))
        };
        let t = Instant::now();
        let pct = solve(problem, &preset("highs-1pct", limit_1pct)?)?;
        let pct_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let opt = solve(problem, &preset("highs", limit_opt)?)?;
        let opt_s = t.elapsed().as_secs_f64();
        let (greedy, greedy_s) = timed("greedy")?;
        let (ls, ls_s) = timed("local-search")?;
        let (indep, _) = timed("independent")?;
        let (pop, _) = timed("popularity")?;
        let (rand, _) = timed("random")?;
        let best_bound = [pct.stats.bound, opt.stats.bound]
            .into_iter()
            .flatten()
            .fold(f64::INFINITY, f64::min);
        Ok(Runs {
            pct,
            pct_s,
            opt,
            opt_s,
            greedy,
            greedy_s,
            ls,
            ls_s,
            indep,
            pop,
            rand,
            best_bound,
        })
    }

    /// A report's hit ratio as a fraction of the best bound (NaN without a positive bound).
    fn frac(&self, r: &CacheReport) -> f64 {
        if self.best_bound.is_finite() && self.best_bound > 0.0 {
            hit(r) / self.best_bound
        } else {
            f64::NAN
        }
    }

    /// Prints the configuration's row of the table.
    fn print(&self, servers: usize, models: usize, users: usize) {
        let (_, bins, cons) = self.opt.details.milp_size.unwrap_or((0, 0, 0));
        let share = hit(&self.greedy) / hit(&self.indep).max(1e-12) - 1.0;
        println!(
            "{:>3} {:>4} {:>5} | {:>6} {:>5} {:>6} {:>8.3} | {:>7.1} {:>8} {:>5} | {:>7.1} {:>7} \
             {:>5} | {:>6.2}% ({:>5.1}) {:>6.2}% ({:>5.0}) {:>5.1}% {:>5.1}% {:>5.1}% {:>5.1}%",
            servers,
            models,
            users,
            self.opt.details.demand.demands,
            bins,
            cons,
            self.opt.stats.build_s,
            self.pct_s,
            gap(&self.pct),
            end(&self.pct),
            self.opt_s,
            gap(&self.opt),
            end(&self.opt),
            100.0 * self.frac(&self.greedy),
            1e3 * self.greedy_s,
            100.0 * self.frac(&self.ls),
            1e3 * self.ls_s,
            100.0 * self.frac(&self.indep),
            100.0 * share,
            100.0 * self.frac(&self.pop),
            100.0 * self.frac(&self.rand),
        );
    }

    /// Writes the configuration's CSV row.
    fn write_csv(
        &self,
        f: &mut std::fs::File,
        (servers, models, users): (usize, usize, usize),
        seed: u64,
    ) -> Result<()> {
        let (_, bins, cons) = self.opt.details.milp_size.unwrap_or((0, 0, 0));
        let (pct, opt, pct_s, opt_s) = (&self.pct, &self.opt, self.pct_s, self.opt_s);
        let best_bound = self.best_bound;
        writeln!(
            f,
            "{servers},{models},{users},{},{},{bins},{cons},{},{pct_s},{},{},{opt_s},{},{},\
             {best_bound},{},{},{},{},{},{},{}",
            seed,
            opt.details.demand.demands,
            opt.stats.build_s,
            pct.stats.gap.map_or(String::new(), |g| g.to_string()),
            pct.stats.termination,
            opt.stats.gap.map_or(String::new(), |g| g.to_string()),
            opt.stats.termination,
            hit(&self.greedy),
            self.greedy_s,
            hit(&self.ls),
            self.ls_s,
            hit(&self.indep),
            hit(&self.pop),
            hit(&self.rand),
        )?;
        Ok(())
    }
}

//! Multi-user allocation (docs/alloc.md) at scale: build time, root LP bound, HiGHS to 1%
//! and to optimality, and the heuristics, over users x layers x resource blocks.
//!
//! Run (release profile; the full grid takes hours, `--quick` a few minutes):
//!
//! ```text
//! cargo bench --bench alloc -- --quick
//! cargo bench --bench alloc -- --users 100 --layers 34 --blocks 100
//! cargo bench --bench alloc -- [--users 10,50,100,200] [--layers 14,34,82] [--blocks 50,100,273]
//!     [--objective min-max|sum|weighted-sum] [--seed 1] [--limit-1pct 60] [--limit-opt 120]
//!     [--threads N] [--server-device a100-80gb-sxm] [--repeats 5] [--skip-opt] [--csv FILE]
//! ```
//!
//! **Instances.** One per configuration from the seeded generator
//! ([`edgeplan::instance::alloc::generate`]) with the shipped catalog (`instances/devices.csv`,
//! `instances/models/`): one server (`--server-device`, memory from the catalog), every user runs
//! the same model in q4 (inference; the generator's default user devices, token ranges and
//! channel), no deadlines. The **layers** axis counts rows of the per-layer cost table: the
//! embedding, the transformer blocks and the head. 14 = GPT-2 (12 blocks), 34 = Llama-2-7B (32),
//! 82 = Llama-2-70B (80); a model name from `instances/models/` is accepted too.
//!
//! **Columns** (`-`: not available, e.g. no plan or no bound). All gaps follow HiGHS's definition
//! `(objective - reference) / objective`, in percent. The *best objective* is the smallest
//! objective of any feasible plan found in the row (HiGHS runs, local search, equal split); the
//! *best bound* is the largest valid lower bound (HiGHS runs, root LP).
//!
//! | column | meaning |
//! |---|---|
//! | `users`, `rows`, `blocks` | users K, cost-table rows (layers), resource blocks N |
//! | `bins`, `ints`, `cons` | binary option choices `x`, all integer variables (`x` and block counts `n`), rows of the first-round MILP |
//! | `opts_s` | pricing every user's options ([`AllocProblem::options`]), s |
//! | `build_s` | building the first-round MILP from the options, s |
//! | `lp_s`, `lp_gap` | time of the first-round MILP's LP relaxation (the root LP, before cuts; with the min-max floor row), and its gap `(best objective - LP bound) / best objective`, the bound converted from the MILP's time unit to seconds |
//! | `1pct_s`, `1pct_gap`, `1pct_end` | preset `highs-1pct` (time limit `--limit-1pct`) through `alloc::solve::solve`: wall time (options, outer-approximation rounds, evaluation), gap it proved, termination and rounds |
//! | `opt_s`, `opt_gap`, `opt_end` | the same with preset `highs` (gap 1e-9) and time limit `--limit-opt` |
//! | `ls_ms` | preset `local-search`: solve time without option pricing (it includes the evaluator), ms, median of `--repeats` runs when one run takes under 1 s |
//! | `ls_lb`, `ls_best` | its gap against the best bound, and against the best objective |
//! | `eq_lb` | the equal-split baseline's gap against the best bound |
//! | `best_obj` | the best objective (s of the slowest user for min-max) |
//!
//! Termination: `opt` (proven within the preset's gap), `limit` (time limit, plan kept), `infeas`,
//! `none` (no plan); `rN` is the number of outer-approximation rounds. Rows are printed as soon as
//! they are done; `--csv FILE` also writes them (unrounded, with the full termination names).
//! HiGHS threads default to the presets' (1); `--threads` overrides it for every HiGHS call.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

use edgeplan::costs::{DeviceCatalog, Dtype, ModelConfig};
use edgeplan::instance::alloc::generate::{generate, GenParams};
use edgeplan::problems::alloc::model::build;
use edgeplan::problems::alloc::solve::{solve, AllocReport};
use edgeplan::problems::alloc::{AllocObjective, AllocProblem};
use edgeplan::solve::report::relative_gap;
use edgeplan::solve::{MipOptions, PrimalStatus, SolverPreset, Termination};

mod common;

/// The models behind the row counts of the issue's layers axis.
const MODELS_BY_ROWS: [(usize, &str); 3] = [(14, "gpt2"), (34, "llama-2-7b"), (82, "llama-2-70b")];

#[derive(Parser, Debug)]
#[command(about = "Allocation MILP and heuristic benchmark (see the header of benches/alloc.rs)")]
struct Args {
    /// Users, comma-separated.
    #[arg(long, value_delimiter = ',')]
    users: Option<Vec<usize>>,
    /// Cost-table rows (14, 34, 82) or model names, comma-separated.
    #[arg(long, value_delimiter = ',')]
    layers: Option<Vec<String>>,
    /// Resource blocks, comma-separated.
    #[arg(long, value_delimiter = ',')]
    blocks: Option<Vec<usize>>,
    /// Objective: min-max, sum or weighted-sum.
    #[arg(long, default_value = "min-max")]
    objective: String,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time limit of the `highs-1pct` run, s (default 60; 10 with --quick).
    #[arg(long)]
    limit_1pct: Option<f64>,
    /// Time limit of the `highs` run and of the root LP, s (default 120; 20 with --quick).
    #[arg(long)]
    limit_opt: Option<f64>,
    /// HiGHS threads (default: the presets' value).
    #[arg(long)]
    threads: Option<u32>,
    /// Server device (a row of instances/devices.csv).
    #[arg(long, default_value = "a100-80gb-sxm")]
    server_device: String,
    /// Local-search repetitions for the median time.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Skip the `highs` run to optimality.
    #[arg(long)]
    skip_opt: bool,
    /// 10 and 50 users, 14 and 34 rows, 50 and 100 blocks, short time limits.
    #[arg(long)]
    quick: bool,
    /// Also write the rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One HiGHS run through the alloc solver.
#[derive(Debug, Clone, Default)]
struct MilpRun {
    wall_s: Option<f64>,
    objective: Option<f64>,
    bound: Option<f64>,
    gap: Option<f64>,
    termination: Option<Termination>,
    rounds: usize,
    error: Option<String>,
}

/// A row of the table.
#[derive(Debug, Clone, Default)]
struct Row {
    users: usize,
    rows: usize,
    model: String,
    blocks: usize,
    seed: u64,
    objective: String,
    server: String,
    threads: u32,
    bins: Option<usize>,
    ints: Option<usize>,
    cons: Option<usize>,
    opts_s: Option<f64>,
    build_s: Option<f64>,
    lp_s: Option<f64>,
    lp_bound: Option<f64>,
    lp_gap: Option<f64>,
    pct: MilpRun,
    opt: MilpRun,
    ls_s: Option<f64>,
    ls_obj: Option<f64>,
    ls_lb: Option<f64>,
    ls_best: Option<f64>,
    eq_obj: Option<f64>,
    eq_lb: Option<f64>,
    best_obj: Option<f64>,
    best_bound: Option<f64>,
    note: Vec<String>,
}

/// Settings shared by every configuration.
struct Setup {
    catalog: DeviceCatalog,
    models_dir: PathBuf,
    objective: AllocObjective,
    objective_name: String,
    seed: u64,
    server_device: String,
    limit_1pct: f64,
    limit_opt: f64,
    threads: u32,
    repeats: usize,
    skip_opt: bool,
}

fn main() -> ExitCode {
    common::exit(run_all(&Args::parse()))
}

/// Runs every configuration and prints (and writes) the table.
fn run_all(args: &Args) -> Result<()> {
    let root = common::instances();
    let catalog = DeviceCatalog::load(&root.join("devices.csv"))?;
    let models_dir = root.join("models");
    if !catalog.devices.contains_key(&args.server_device) {
        bail!(
            "unknown server device `{}`; instances/devices.csv has {}",
            args.server_device,
            catalog
                .devices
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let objective = AllocObjective::parse(&args.objective)
        .with_context(|| format!("unknown objective `{}`", args.objective))?;
    let (users, layers, blocks) = if args.quick {
        (vec![10, 50], vec!["14".into(), "34".into()], vec![50, 100])
    } else {
        (
            vec![10, 50, 100, 200],
            vec!["14".into(), "34".into(), "82".into()],
            vec![50, 100, 273],
        )
    };
    let users = args.users.clone().unwrap_or(users);
    let layers = args.layers.clone().unwrap_or(layers);
    let blocks = args.blocks.clone().unwrap_or(blocks);
    let preset_threads = SolverPreset::builtin("highs-1pct")
        .context("the highs-1pct preset is built in")?
        .threads;
    let setup = Setup {
        catalog,
        models_dir,
        objective,
        objective_name: args.objective.clone(),
        seed: args.seed,
        server_device: args.server_device.clone(),
        limit_1pct: args
            .limit_1pct
            .unwrap_or(if args.quick { 10.0 } else { 60.0 }),
        limit_opt: args
            .limit_opt
            .unwrap_or(if args.quick { 20.0 } else { 120.0 }),
        threads: args.threads.unwrap_or(preset_threads),
        repeats: args.repeats.max(1),
        skip_opt: args.skip_opt,
    };
    for (name, limit) in [
        ("--limit-1pct", setup.limit_1pct),
        ("--limit-opt", setup.limit_opt),
    ] {
        if !(limit.is_finite() && limit > 0.0) {
            bail!("{name}: expected a positive number of seconds, got {limit}");
        }
    }
    if setup.threads == 0 {
        bail!("--threads: expected at least 1");
    }
    let models = layers
        .iter()
        .map(|spec| resolve_model(&setup.models_dir, spec))
        .collect::<Result<Vec<_>>>()?;

    println!(
        "alloc benchmark: objective {}, seed {}, server {}, q4, inference, no deadlines; \
         HiGHS threads {} ({} cores available); limits: highs-1pct {} s, highs {} s{}",
        args.objective,
        setup.seed,
        setup.server_device,
        setup.threads,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        setup.limit_1pct,
        setup.limit_opt,
        if setup.skip_opt { " (skipped)" } else { "" },
    );
    for (model, rows) in &models {
        println!(
            "  rows {rows:>3} = {model} ({} transformer blocks)",
            rows - 2
        );
    }
    println!("gaps: (objective - reference) / objective; times in s unless named _ms");
    println!();
    println!("{}", header());
    let mut csv = match &args.csv {
        Some(path) => {
            let mut w = csv::Writer::from_path(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            w.write_record(CSV_HEADER)?;
            w.flush()?;
            Some(w)
        }
        None => None,
    };
    for &k in &users {
        for (model, rows) in &models {
            for &n in &blocks {
                let row = run(&setup, k, model, *rows, n);
                println!("{}", format_row(&row));
                std::io::stdout().flush()?;
                if let Some(w) = csv.as_mut() {
                    w.write_record(csv_record(&row))?;
                    w.flush()?;
                }
            }
        }
    }
    Ok(())
}

/// The model and its cost-table row count for a `--layers` entry.
fn resolve_model(models_dir: &Path, spec: &str) -> Result<(String, usize)> {
    let name = match spec.parse::<usize>() {
        Ok(rows) => MODELS_BY_ROWS
            .iter()
            .find(|(r, _)| *r == rows)
            .map(|(_, m)| m.to_string())
            .with_context(|| {
                format!(
                    "no model chosen for {rows} rows; use {} or a model name",
                    MODELS_BY_ROWS
                        .iter()
                        .map(|(r, m)| format!("{r} ({m})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
        Err(_) => spec.to_string(),
    };
    let config = ModelConfig::load(&ModelConfig::resolve(models_dir, &name)?)?;
    let rows = config
        .architecture
        .cost_table(&config.name, Dtype::Q4)
        .len();
    Ok((name, rows))
}

/// Runs one configuration; failures become notes, never panics.
fn run(setup: &Setup, users: usize, model: &str, rows: usize, blocks: usize) -> Row {
    let mut row = Row {
        users,
        rows,
        model: model.to_string(),
        blocks,
        seed: setup.seed,
        objective: setup.objective_name.clone(),
        server: setup.server_device.clone(),
        threads: setup.threads,
        ..Row::default()
    };
    let params = GenParams {
        users,
        servers: 1,
        seed: setup.seed,
        resource_blocks: blocks,
        models: vec![model.to_string()],
        dtypes: vec!["q4".into()],
        server_device: setup.server_device.clone(),
        objective: setup.objective,
        deadline_factor: None,
        ..GenParams::default()
    };
    let problem = match generate(&params, &setup.catalog, &setup.models_dir) {
        Ok(p) => p,
        Err(e) => {
            row.note.push(format!("generator: {e}"));
            return row;
        }
    };

    // Options and the first-round MILP, timed separately; then its LP relaxation.
    let t0 = Instant::now();
    let opts = problem.options();
    row.opts_s = Some(t0.elapsed().as_secs_f64());
    let stuck = opts.options.iter().filter(|o| o.is_empty()).count();
    if stuck > 0 {
        row.note
            .push(format!("{stuck} users have no placement that fits"));
    }
    row.bins = Some(opts.options.iter().map(Vec::len).sum());
    let t1 = Instant::now();
    let model = build(&problem, &opts);
    row.build_s = Some(t1.elapsed().as_secs_f64());
    row.ints = Some(model.milp.num_integer_vars());
    row.cons = Some(model.milp.num_constraints());
    let lp_options = MipOptions {
        time_limit_s: Some(setup.limit_opt),
        threads: setup.threads,
        ..MipOptions::default()
    };
    let t2 = Instant::now();
    // The MILP's objective is in its own unit of time (`objective_scale` seconds).
    let scale = model.objective_scale;
    match model.milp.minimise_relaxation(model.objective, &lp_options) {
        Ok(lp) => {
            row.lp_s = Some(t2.elapsed().as_secs_f64());
            row.lp_bound = lp.bound.map(|b| b * scale);
            if lp.termination != Termination::Optimal {
                row.note.push(format!("root LP: {}", lp.termination));
            }
        }
        Err(e) => row.note.push(format!("root LP: {e}")),
    }
    drop(opts);

    row.pct = milp_run(setup, &problem, "highs-1pct", setup.limit_1pct);
    if !setup.skip_opt {
        row.opt = milp_run(setup, &problem, "highs", setup.limit_opt);
    }

    // Local search: median solve time (without option pricing) of a few runs when fast.
    let mut times = Vec::new();
    for _ in 0..setup.repeats {
        match solve(&problem, &builtin("local-search")) {
            Ok(r) => {
                times.push(r.stats.solve_s);
                row.ls_obj = feasible_objective(&r);
                if r.stats.solve_s >= 1.0 {
                    break;
                }
            }
            Err(e) => {
                row.note.push(format!("local-search: {e}"));
                break;
            }
        }
    }
    if !times.is_empty() {
        times.sort_by(f64::total_cmp);
        row.ls_s = Some(times[times.len() / 2]);
    }
    match solve(&problem, &builtin("equal-split")) {
        Ok(r) => row.eq_obj = feasible_objective(&r),
        Err(e) => row.note.push(format!("equal-split: {e}")),
    }

    row.best_obj = [row.pct.objective, row.opt.objective, row.ls_obj, row.eq_obj]
        .into_iter()
        .flatten()
        .reduce(f64::min);
    row.best_bound = [row.pct.bound, row.opt.bound, row.lp_bound]
        .into_iter()
        .flatten()
        .reduce(f64::max);
    let gap = |objective: Option<f64>, reference: Option<f64>| match (objective, reference) {
        (Some(o), Some(r)) => Some(relative_gap(o, r)),
        _ => None,
    };
    row.lp_gap = gap(row.best_obj, row.lp_bound);
    row.ls_lb = gap(row.ls_obj, row.best_bound);
    row.ls_best = gap(row.ls_obj, row.best_obj);
    row.eq_lb = gap(row.eq_obj, row.best_bound);
    if row.ls_obj.is_none() {
        row.note.push("local search: no plan".into());
    }
    if row.eq_obj.is_none() {
        row.note.push("equal split: no plan".into());
    }
    row
}

/// A built-in preset (they are compiled in, so this cannot fail on a consistent build).
fn builtin(name: &str) -> SolverPreset {
    SolverPreset::builtin(name).expect("the preset is built in")
}

/// The objective of a report's plan when the evaluator finds it feasible.
fn feasible_objective(report: &AllocReport) -> Option<f64> {
    (report.stats.primal_status == PrimalStatus::Feasible)
        .then_some(report.stats.objective)
        .flatten()
}

/// Runs a HiGHS preset with the given time limit.
fn milp_run(setup: &Setup, problem: &AllocProblem, preset: &str, limit_s: f64) -> MilpRun {
    let mut p = builtin(preset);
    p.time_limit_s = Some(limit_s);
    p.threads = setup.threads;
    let start = Instant::now();
    match solve(problem, &p) {
        Ok(r) => MilpRun {
            wall_s: Some(start.elapsed().as_secs_f64()),
            objective: feasible_objective(&r),
            bound: r.stats.bound,
            gap: r.stats.gap,
            termination: Some(r.stats.termination),
            rounds: r.details.rounds,
            error: None,
        },
        Err(e) => MilpRun {
            error: Some(e.to_string()),
            ..MilpRun::default()
        },
    }
}

const COLUMNS: [(&str, usize); 22] = [
    ("users", 5),
    ("rows", 4),
    ("blocks", 6),
    ("bins", 6),
    ("ints", 6),
    ("cons", 8),
    ("opts_s", 7),
    ("build_s", 7),
    ("lp_s", 7),
    ("lp_gap", 7),
    ("1pct_s", 7),
    ("1pct_gap", 8),
    ("1pct_end", 9),
    ("opt_s", 7),
    ("opt_gap", 7),
    ("opt_end", 9),
    ("ls_ms", 8),
    ("ls_lb", 7),
    ("ls_best", 7),
    ("eq_lb", 7),
    ("best_obj", 9),
    ("note", 0),
];

fn header() -> String {
    let cells: Vec<String> = COLUMNS.iter().map(|(c, _)| c.to_string()).collect();
    line(&cells)
}

fn line(cells: &[String]) -> String {
    COLUMNS
        .iter()
        .zip(cells)
        .map(|((_, width), cell)| format!("{cell:>width$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn opt_cell<T>(value: Option<T>, f: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "-".into(), f)
}

fn secs(v: Option<f64>) -> String {
    opt_cell(v, |s| format!("{s:.3}"))
}

fn pct(v: Option<f64>) -> String {
    opt_cell(v, |g| format!("{:.2}%", 100.0 * g))
}

fn short(t: Termination) -> &'static str {
    match t {
        Termination::Optimal => "opt",
        Termination::LimitReached => "limit",
        Termination::Infeasible => "infeas",
        Termination::Unbounded => "unbnd",
        Termination::NoSolutionFound => "none",
        Termination::HeuristicDone => "heur",
    }
}

fn end_cell(run: &MilpRun) -> String {
    match (run.termination, &run.error) {
        (Some(t), _) => format!("{} r{}", short(t), run.rounds),
        (None, Some(_)) => "error".into(),
        (None, None) => "-".into(),
    }
}

fn format_row(row: &Row) -> String {
    let mut note = row.note.clone();
    for (name, run) in [("highs-1pct", &row.pct), ("highs", &row.opt)] {
        if let Some(e) = &run.error {
            note.push(format!("{name}: {e}"));
        }
    }
    let cells = vec![
        row.users.to_string(),
        row.rows.to_string(),
        row.blocks.to_string(),
        opt_cell(row.bins, |v| v.to_string()),
        opt_cell(row.ints, |v| v.to_string()),
        opt_cell(row.cons, |v| v.to_string()),
        secs(row.opts_s),
        secs(row.build_s),
        secs(row.lp_s),
        pct(row.lp_gap),
        secs(row.pct.wall_s),
        pct(row.pct.gap),
        end_cell(&row.pct),
        secs(row.opt.wall_s),
        pct(row.opt.gap),
        end_cell(&row.opt),
        opt_cell(row.ls_s, |s| format!("{:.1}", 1e3 * s)),
        pct(row.ls_lb),
        pct(row.ls_best),
        pct(row.eq_lb),
        opt_cell(row.best_obj, |v| format!("{v:.4}")),
        note.join("; "),
    ];
    line(&cells)
}

const CSV_HEADER: [&str; 37] = [
    "users",
    "rows",
    "model",
    "blocks",
    "seed",
    "objective",
    "server",
    "threads",
    "binaries",
    "integers",
    "constraints",
    "options_s",
    "build_s",
    "lp_s",
    "lp_bound",
    "lp_gap",
    "pct1_s",
    "pct1_objective",
    "pct1_bound",
    "pct1_gap",
    "pct1_termination",
    "pct1_rounds",
    "opt_s",
    "opt_objective",
    "opt_bound",
    "opt_gap",
    "opt_termination",
    "opt_rounds",
    "ls_s",
    "ls_objective",
    "ls_gap_bound",
    "ls_gap_best",
    "eq_objective",
    "eq_gap_bound",
    "best_objective",
    "best_bound",
    "note",
];

fn csv_record(row: &Row) -> Vec<String> {
    let num = |v: Option<f64>| opt_cell(v, |x| x.to_string());
    let count = |v: Option<usize>| opt_cell(v, |x| x.to_string());
    let run = |r: &MilpRun| {
        vec![
            num(r.wall_s),
            num(r.objective),
            num(r.bound),
            num(r.gap),
            opt_cell(r.termination, |t| t.name().to_string()),
            if r.termination.is_some() {
                r.rounds.to_string()
            } else {
                "-".into()
            },
        ]
    };
    let mut out = vec![
        row.users.to_string(),
        row.rows.to_string(),
        row.model.clone(),
        row.blocks.to_string(),
        row.seed.to_string(),
        row.objective.clone(),
        row.server.clone(),
        row.threads.to_string(),
        count(row.bins),
        count(row.ints),
        count(row.cons),
        num(row.opts_s),
        num(row.build_s),
        num(row.lp_s),
        num(row.lp_bound),
        num(row.lp_gap),
    ];
    out.extend(run(&row.pct));
    out.extend(run(&row.opt));
    out.extend([
        num(row.ls_s),
        num(row.ls_obj),
        num(row.ls_lb),
        num(row.ls_best),
        num(row.eq_obj),
        num(row.eq_lb),
        num(row.best_obj),
        num(row.best_bound),
    ]);
    let mut note = row.note.clone();
    for (name, r) in [("highs-1pct", &row.pct), ("highs", &row.opt)] {
        if let Some(e) = &r.error {
            note.push(format!("{name}: {e}"));
        }
    }
    out.push(note.join("; "));
    out
}

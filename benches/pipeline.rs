//! In-network model splitting (docs/pipeline.md) at scale: HiGHS, the local search and the
//! EdgeShard baseline against the optimum, over nodes x layers x objective.
//!
//! Run (release profile):
//!
//! ```text
//! cargo bench --bench pipeline
//! cargo bench --bench pipeline -- [--nodes 4,8,16] [--layers llama-2-7b,llama-2-70b]
//!     [--objective latency,throughput] [--seed 1] [--repeats 3] [--limit 60] [--csv FILE]
//! ```
//!
//! **Instances.** One per configuration, drawn by the generator (`edgeplan generate pipeline
//! --nodes N --seed S --topology T --model M --dtype q4 --objective O`, defaults otherwise:
//! docs/pipeline.md): a phone source, nodes from the catalog on a random geometric (or tree)
//! network, inference with a 512-token prompt and 128 generated tokens, shortest-path routing,
//! the embedding on the source. The **layers** axis counts cost-table rows: 34 = Llama-2-7B,
//! 82 = Llama-2-70B (or a model name from `instances/models/`).
//!
//! **Columns** (`-`: not available). Ratios are objective / reference.
//!
//! | column | meaning |
//! |---|---|
//! | `nodes`, `rows`, `objective` | N, cost-table rows, objective |
//! | `ref`, `ref_by` | the reference objective: HiGHS's when it proves optimality (`highs`), else exhaustive enumeration when it visits at most 5e6 plans (`enum`), else the best plan found (`best`, not proven) |
//! | `lb_gap` | `(reference - lower bound) / reference`, the lower bound of the local search's relaxation |
//! | `highs_s`, `highs_end`, `highs_gap` | preset `highs` (time limit `--limit`) through `pipeline::solve::solve`: median wall time of `--repeats` runs, termination, gap; `err` when it fails |
//! | `enum_s` | enumeration time, when it ran |
//! | `ls_ms`, `ls_ratio` | `local-search` (the heuristic alone, coefficients built once): median time of `--repeats` runs, ms; its ratio |
//! | `es_ms`, `es_ratio` | EdgeShard's DP (median time, ms) and its ratio (the margin the evaluator sees) |
//!
//! Rows are printed as they finish; `--csv FILE` also writes them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use edgeplan::costs::DeviceCatalog;
use edgeplan::instance::pipeline::generate::{generate, GenParams};
use edgeplan::problems::pipeline::price::Coefficients;
use edgeplan::problems::pipeline::search::{enumerate, plan_count, Scorer, MAX_ENUMERATED};
use edgeplan::problems::pipeline::solve::solve;
use edgeplan::problems::pipeline::{edgeshard, heuristics, PipelineProblem};
use edgeplan::solve::milp::RunOptions;
use edgeplan::solve::{SolverPreset, Termination};

mod common;

/// The models behind the row counts of the layers axis.
const MODELS_BY_ROWS: [(usize, &str); 3] = [(14, "gpt2"), (34, "llama-2-7b"), (82, "llama-2-70b")];

#[derive(Parser, Debug)]
#[command(about = "Pipeline MILP and heuristic benchmark (see the header of benches/pipeline.rs)")]
struct Args {
    /// Nodes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "4,8,16")]
    nodes: Vec<usize>,
    /// Cost-table rows (14, 34, 82) or model names, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "llama-2-7b,llama-2-70b")]
    layers: Vec<String>,
    /// Objectives, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "latency,throughput")]
    objective: Vec<String>,
    /// Instance seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Network topology of the generator: geometric or tree.
    #[arg(long, default_value = "geometric")]
    topology: String,
    /// Runs per timing (median).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Time limit of the `highs` run, s.
    #[arg(long, default_value_t = 60.0)]
    limit: f64,
    /// Also write the rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The model of a layers-axis entry.
fn model_of(spec: &str) -> String {
    spec.parse::<usize>()
        .ok()
        .and_then(|rows| MODELS_BY_ROWS.iter().find(|(r, _)| *r == rows))
        .map_or_else(|| spec.to_string(), |(_, m)| m.to_string())
}

/// The generator's instance for one configuration (see the header).
fn instance(args: &Args, nodes: usize, model: &str, objective: &str) -> Result<PipelineProblem> {
    let root = common::instances();
    let catalog = DeviceCatalog::load(&root.join("devices.csv"))?;
    let params = GenParams {
        nodes,
        seed: args.seed,
        topology: args.topology.clone(),
        model: model.to_string(),
        dtype: "q4".into(),
        objective: objective.to_string(),
        ..GenParams::default()
    };
    Ok(generate(&params, &catalog, &root.join("models"))?)
}

/// One row of the table.
#[derive(Debug, Default)]
struct Row {
    nodes: usize,
    rows: usize,
    objective: String,
    reference: Option<f64>,
    ref_by: &'static str,
    lower_bound: Option<f64>,
    highs_s: Option<f64>,
    highs_end: String,
    highs_gap: Option<f64>,
    highs_obj: Option<f64>,
    enum_s: Option<f64>,
    ls_ms: Option<f64>,
    ls_obj: Option<f64>,
    es_ms: Option<f64>,
    es_obj: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median time (s) of `repeats` runs of `f`, and its last result.
fn timed<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        out = Some(f());
        times.push(t.elapsed().as_secs_f64());
    }
    (median(times), out.expect("ran once"))
}

fn run_row(args: &Args, problem: &PipelineProblem, row: &mut Row) -> Result<()> {
    let coef = Coefficients::new(problem);
    let scorer = Scorer {
        problem,
        coef: &coef,
    };
    // HiGHS (skipped gracefully while the MILP is not built).
    let mut preset = SolverPreset::builtin("highs").context("the highs preset")?;
    preset.time_limit_s = Some(args.limit);
    let (highs_s, report) = timed(args.repeats, || {
        solve(problem, &preset, &RunOptions::default())
    });
    match report {
        Ok(report) => {
            row.highs_s = Some(highs_s);
            row.highs_end = format!("{:?}", report.stats.termination).to_lowercase();
            row.highs_gap = report.stats.gap;
            row.highs_obj = report.evaluation.as_ref().map(|e| e.objective);
            if report.stats.termination == Termination::Optimal {
                row.reference = row.highs_obj;
                row.ref_by = "highs";
            }
        }
        Err(_) => row.highs_end = "err".into(),
    }
    if row.reference.is_none() {
        let max_stages = problem.rules.max_stages.unwrap_or(coef.nodes);
        if plan_count(coef.layers, coef.nodes, max_stages) <= MAX_ENUMERATED {
            let t = Instant::now();
            if let Some((_, v)) = enumerate(&scorer)? {
                row.reference = Some(v);
                row.ref_by = "enum";
            }
            row.enum_s = Some(t.elapsed().as_secs_f64());
        }
    }
    let (ls_s, ls) = timed(args.repeats, || heuristics::local_search(&scorer, None));
    row.ls_ms = Some(ls_s * 1e3);
    row.ls_obj = ls.and_then(|s| scorer.objective(&s));
    let (es_s, es) = timed(args.repeats, || edgeshard::plan(&scorer));
    row.es_ms = Some(es_s * 1e3);
    row.es_obj = es.and_then(|s| scorer.objective(&s));
    row.lower_bound = heuristics::lower_bound(&scorer);
    if row.reference.is_none() {
        row.reference = [row.highs_obj, row.ls_obj]
            .into_iter()
            .flatten()
            .min_by(f64::total_cmp);
        row.ref_by = "best";
    }
    Ok(())
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

fn ratio(v: Option<f64>, r: Option<f64>) -> Option<f64> {
    Some(v? / r?)
}

const HEADER: [&str; 15] = [
    "nodes",
    "rows",
    "objective",
    "ref",
    "ref_by",
    "lb_gap",
    "highs_s",
    "highs_end",
    "highs_gap",
    "enum_s",
    "ls_ms",
    "ls_ratio",
    "es_ms",
    "es_ratio",
    "best_obj",
];

fn cells(row: &Row) -> Vec<String> {
    let lb_gap = match (row.reference, row.lower_bound) {
        (Some(r), Some(lb)) if r > 0.0 => Some(100.0 * (r - lb) / r),
        _ => None,
    };
    vec![
        row.nodes.to_string(),
        row.rows.to_string(),
        row.objective.clone(),
        fmt(row.reference, 6),
        row.ref_by.to_string(),
        lb_gap.map_or("-".into(), |g| format!("{g:.2}%")),
        fmt(row.highs_s, 2),
        if row.highs_end.is_empty() {
            "-".into()
        } else {
            row.highs_end.clone()
        },
        row.highs_gap
            .map_or("-".into(), |g| format!("{:.2}%", 100.0 * g)),
        fmt(row.enum_s, 2),
        fmt(row.ls_ms, 2),
        fmt(ratio(row.ls_obj, row.reference), 4),
        fmt(row.es_ms, 2),
        fmt(ratio(row.es_obj, row.reference), 4),
        fmt(row.reference, 6),
    ]
}

fn run(args: Args) -> Result<()> {
    let widths = [5, 4, 10, 10, 6, 7, 8, 9, 9, 7, 8, 8, 8, 8, 10];
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "{}",
        line(&HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    );
    let mut csv = String::new();
    let _ = writeln!(csv, "{}", HEADER.join(","));
    for &nodes in &args.nodes {
        for spec in &args.layers {
            let model = model_of(spec);
            for objective in &args.objective {
                let problem = instance(&args, nodes, &model, objective)
                    .with_context(|| format!("{nodes} nodes, {model}, {objective}"))?;
                let mut row = Row {
                    nodes,
                    rows: problem.layers(),
                    objective: objective.clone(),
                    ..Row::default()
                };
                run_row(&args, &problem, &mut row)?;
                let c = cells(&row);
                println!("{}", line(&c));
                let _ = std::io::stdout().flush();
                let _ = writeln!(csv, "{}", c.join(","));
            }
        }
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, csv).with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    common::exit(run(Args::parse()))
}

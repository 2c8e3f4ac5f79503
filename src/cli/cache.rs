//! `solve`, `evaluate` and `generate` for cache-placement instances: per-server storage and
//! cached models, the users' hit probabilities and a summary, or JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeplan::costs::DeviceCatalog;
use edgeplan::problems::cache::evaluate::{evaluate as evaluate_placement, CacheEvaluation};
use edgeplan::problems::cache::generate::{generate_spec, write_instance, GenParams};
use edgeplan::problems::cache::solve::{solve_with, CacheReport};
use edgeplan::problems::cache::{CachePlan, CacheProblem, Placement};
use edgeplan::solve::SolverPreset;
use edgeplan::Error;

use super::alloc::relative_to;
use super::format::{bytes, num, percent, secs};
use super::{EvaluateArgs, SolveArgs};

pub fn solve(args: &SolveArgs, preset: &SolverPreset) -> anyhow::Result<ExitCode> {
    let problem = edgeplan::instance::cache::load(&args.instance)?;
    let report = solve_with(&problem, preset, &super::run_options(args))?;
    super::emit_solve(args.json, &report, &report.stats, || {
        render_report(&problem, &report)
    })
}

pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let problem = edgeplan::instance::cache::load(&args.instance)?;
    let placement = read_plan(&args.plan, &problem)?;
    let ev = evaluate_placement(&problem, &placement);
    let render = || {
        let mut out = header(&problem);
        let _ = writeln!(out, "hit ratio {:.6}\n", ev.hit_ratio);
        out.push_str(&render_evaluation(&problem, &placement, &ev));
        out
    };
    super::emit(args.json, &ev, render, ev.feasible())
}

/// A plan file: the JSON of `edgeplan solve --json` or `{"servers": [{"server": "es-0",
/// "models": ["a", "b"]}, ...]}`.
fn read_plan(path: &Path, problem: &CacheProblem) -> edgeplan::Result<Placement> {
    let value = super::plan_json(path, "plan")?;
    let plan: CachePlan = serde_json::from_value(value).map_err(|e| {
        Error::field(
            path,
            "servers",
            format!(
                "expected {{\"servers\": [{{\"server\": \"es-0\", \"models\": [\"name\", ...]}}, \
                 ...]}}: {e}"
            ),
        )
    })?;
    problem
        .placement(&plan)
        .map_err(|message| Error::field(path, "servers", message))
}

fn header(problem: &CacheProblem) -> String {
    format!(
        "instance  {}   {} servers, {} models over {} bases ({} blocks), {} users, relaying: {}\n",
        problem.name,
        problem.servers.len(),
        problem.models.len(),
        problem.bases.len(),
        problem.blocks.len(),
        problem.users.len(),
        problem.backhaul_bps.map_or("none".to_string(), |b| format!(
            "{:.3} Gbit/s backhaul",
            b / 1e9
        )),
    )
}

fn render_report(problem: &CacheProblem, report: &CacheReport) -> String {
    let s = &report.stats;
    let d = &report.demand;
    let mut out = header(problem);
    let _ = writeln!(
        out,
        "solver    {}   {} / {}   hit ratio {}   bound {}   gap {}   build {}   solve {}",
        s.solver,
        s.termination,
        s.primal_status,
        num(s.objective),
        num(s.bound),
        percent(s.gap),
        secs(s.build_s),
        secs(s.solve_s)
    );
    let _ = writeln!(
        out,
        "demand    {} requests, {} servable in time by some server (hit ratio at most {:.6}), \
         {} aggregated demands",
        d.requests, d.servable, d.servable_weight, d.demands
    );
    if let Some((vars, ints, rows)) = report.milp_size {
        let _ = writeln!(
            out,
            "milp      {vars} variables ({ints} binary), {rows} constraints{}",
            s.nodes.map_or(String::new(), |n| format!(", {n} nodes"))
        );
    }
    out.push('\n');
    if let (Some(plan), Some(ev)) = (&report.plan, &report.evaluation) {
        match problem.placement(plan) {
            Ok(placement) => out.push_str(&render_evaluation(problem, &placement, ev)),
            Err(e) => {
                let _ = writeln!(out, "internal error: the plan does not decode: {e}");
            }
        }
    } else {
        out.push_str("no plan\n");
    }
    if !report.unservable.is_empty() {
        let _ = writeln!(
            out,
            "\n{} user(s) no placement can serve:",
            report.unservable.len()
        );
        for line in report.unservable.iter().take(10) {
            let _ = writeln!(out, "  - {line}");
        }
        if report.unservable.len() > 10 {
            let _ = writeln!(
                out,
                "  ... ({} more in --json)",
                report.unservable.len() - 10
            );
        }
    }
    out
}

fn render_evaluation(
    problem: &CacheProblem,
    placement: &Placement,
    ev: &CacheEvaluation,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:>22} {:>7} {:>7} {:>13}  cached models",
        "server", "stored / capacity", "models", "blocks", "independent"
    );
    for (m, server) in ev.servers.iter().enumerate() {
        let names: Vec<&str> = placement[m]
            .iter()
            .map(|&i| problem.models[i].name.as_str())
            .collect();
        let shown = if names.len() > 4 {
            format!("{}, ... ({} more)", names[..4].join(", "), names.len() - 4)
        } else {
            names.join(", ")
        };
        let _ = writeln!(
            out,
            "{:<10} {:>22} {:>7} {:>7} {:>13}  {}",
            server.server,
            format!(
                "{} / {}",
                bytes(server.stored_bytes),
                bytes(server.storage_bytes)
            ),
            server.models,
            server.blocks,
            bytes(server.independent_bytes),
            shown
        );
    }
    let mut hits: Vec<f64> = ev.users.iter().map(|u| u.hit_probability).collect();
    hits.sort_by(f64::total_cmp);
    let quantile = |q: f64| hits[((hits.len() - 1) as f64 * q).round() as usize];
    out.push('\n');
    if problem.users.len() <= 20 {
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>10} {:>8}",
            "user", "hit p", "requested", "served"
        );
        for u in &ev.users {
            let _ = writeln!(
                out,
                "{:<10} {:>8.4} {:>10} {:>8}",
                u.user, u.hit_probability, u.requested, u.served
            );
        }
        out.push('\n');
    }
    if !hits.is_empty() {
        let _ = writeln!(
            out,
            "users     hit probability min {:.4} / median {:.4} / max {:.4}; {} of {} users \
             never served",
            quantile(0.0),
            quantile(0.5),
            quantile(1.0),
            hits.iter().filter(|&&h| h == 0.0).count(),
            hits.len()
        );
    }
    let _ = writeln!(
        out,
        "summary   hit ratio {:.6}; sharing stores {} less than independent copies",
        ev.hit_ratio,
        bytes(ev.sharing_saved_bytes)
    );
    if ev.violations.is_empty() {
        out.push_str("every server's storage is respected\n");
    } else {
        for v in &ev.violations {
            let _ = writeln!(out, "VIOLATED: {v}");
        }
    }
    out
}

/// Options of `edgeplan generate cache`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Edge servers M (on a square grid).
    #[arg(long, default_value_t = 4)]
    pub servers: usize,
    /// Models in the library.
    #[arg(long, default_value_t = 20)]
    pub models: usize,
    /// Users K.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Base models as config@dtype (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub bases: Option<Vec<String>>,
    /// Probability that a non-base model is a LoRA adapter.
    #[arg(long, default_value_t = 0.6)]
    pub lora_fraction: f64,
    /// Probability that a non-base model fine-tunes its top layers (the rest are full copies).
    #[arg(long, default_value_t = 0.25)]
    pub top_layers_fraction: f64,
    /// Storage of each server, bytes.
    #[arg(long, default_value_t = 4e9, value_name = "BYTES")]
    pub storage: f64,
    /// Grid spacing of the servers, m.
    #[arg(long, default_value_t = 400.0, value_name = "M")]
    pub spacing: f64,
    /// Coverage radius of a server, m.
    #[arg(long, default_value_t = 500.0, value_name = "M")]
    pub coverage: f64,
    /// Downlink bandwidth of one user, Hz.
    #[arg(long, default_value_t = 20e6, value_name = "HZ")]
    pub bandwidth: f64,
    /// Backhaul rate between servers for relaying, bit/s (default: no relaying).
    #[arg(long, value_name = "BPS")]
    pub backhaul: Option<f64>,
    /// User devices (rows of devices.csv, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Latency limit range, s, as LOW,HIGH.
    #[arg(long, value_delimiter = ',', num_args = 2, value_name = "S")]
    pub latency_limit: Option<Vec<f64>>,
    /// Zipf skew of the requests.
    #[arg(long, default_value_t = 0.8)]
    pub zipf: f64,
    /// Each user ranks the library in its own random order (default: one shared order).
    #[arg(long)]
    pub per_user_order: bool,
    /// Instance name (default cache-<M>s-<I>m-<K>u).
    #[arg(long)]
    pub name: Option<String>,
    /// Directory holding devices.csv and models/.
    #[arg(long, default_value = "instances", value_name = "DIR")]
    pub instances: PathBuf,
    /// Write the instance here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let defaults = GenParams::default();
    let params = GenParams {
        servers: args.servers,
        models: args.models,
        users: args.users,
        seed: args.seed,
        bases: args.bases.clone().unwrap_or(defaults.bases.clone()),
        lora_fraction: args.lora_fraction,
        top_layers_fraction: args.top_layers_fraction,
        storage_bytes: args.storage,
        spacing_m: args.spacing,
        coverage_m: args.coverage,
        user_bandwidth_hz: args.bandwidth,
        backhaul_bps: args.backhaul,
        user_devices: args
            .devices
            .clone()
            .unwrap_or(defaults.user_devices.clone()),
        latency_limit_s: match args.latency_limit.as_deref() {
            Some([lo, hi]) => (*lo, *hi),
            _ => defaults.latency_limit_s,
        },
        zipf_skew: args.zipf,
        per_user_order: args.per_user_order,
        name: args.name.clone(),
        ..defaults
    };
    let devices_path = args.instances.join("devices.csv");
    let models_dir = args.instances.join("models");
    let mut file = generate_spec(&params, &models_dir).map_err(|e| match e {
        Error::Option { field, message } => Error::Option {
            field: format!("--{}", field.replace('_', "-")),
            message,
        },
        other => other,
    })?;
    // Load it once through the ordinary loader, so a bad device or base fails here.
    let catalog = DeviceCatalog::load(&devices_path)?;
    file.build(
        Path::new("generated cache instance"),
        edgeplan::instance::alloc::Sources {
            catalog: &catalog,
            devices_path: &devices_path,
            models_dir: &models_dir,
            profiles_dir: None,
        },
    )?;
    match &args.out {
        None => {
            file.models_dir = Some(models_dir.display().to_string());
            file.devices = Some(devices_path.display().to_string());
            print!("{}", write_instance(&params, &file));
        }
        Some(out) => {
            let dir = out.parent().unwrap_or(Path::new(""));
            file.models_dir = Some(relative_to(&models_dir, dir)?);
            file.devices = Some(relative_to(&devices_path, dir)?);
            std::fs::write(out, write_instance(&params, &file)).map_err(|e| Error::io(out, e))?;
            eprintln!(
                "wrote {} ({} servers, {} models, {} users)",
                out.display(),
                params.servers,
                params.models,
                params.users
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

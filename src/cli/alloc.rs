//! `solve`, `evaluate` and `generate` for allocation instances: a per-user table and a summary,
//! or JSON.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use edgeplan::costs::DeviceCatalog;
use edgeplan::problems::alloc::evaluate::{evaluate as evaluate_plan, AllocEvaluation};
use edgeplan::problems::alloc::generate::{generate_spec, write_instance, GenParams};
use edgeplan::problems::alloc::solve::{solve_with as solve_alloc, AllocReport};
use edgeplan::problems::alloc::{AllocObjective, AllocPlan, AllocProblem, UserPlan};
use edgeplan::solve::SolverPreset;
use edgeplan::Error;

use super::format::{bytes, num, percent, secs};
use super::{EvaluateArgs, SolveArgs};

pub fn solve(args: &SolveArgs, preset: &SolverPreset) -> anyhow::Result<ExitCode> {
    let problem = edgeplan::instance::alloc::load(&args.instance)?;
    let report = solve_alloc(&problem, preset, &super::run_options(args))?;
    super::emit_solve(args.json, &report, &report.stats, || {
        render_report(&problem, &report)
    })
}

pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let problem = edgeplan::instance::alloc::load(&args.instance)?;
    let plan = read_plan(&args.plan, &problem)?;
    let ev = evaluate_plan(&problem, &plan).map_err(|e| match e {
        Error::Option { field, message } => Error::field(&args.plan, field, message),
        other => other,
    })?;
    let render = || {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "instance  {}   {} users, {} server(s)   objective {} = {:.6} s",
            problem.name,
            problem.users.len(),
            problem.servers.len(),
            objective_name(problem.objective),
            ev.objective
        );
        out.push('\n');
        out.push_str(&render_plan(&problem, &plan, &ev));
        out
    };
    super::emit(args.json, &ev, render, ev.feasible())
}

/// Options of `edgeplan generate alloc`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Users K.
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Edge servers M (on a line, `--spacing` apart).
    #[arg(long, default_value_t = 1)]
    pub servers: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Resource blocks N per server.
    #[arg(long, default_value_t = 100)]
    pub blocks: usize,
    /// Bandwidth of one resource block, Hz.
    #[arg(long, default_value_t = 180e3, value_name = "HZ")]
    pub rb_bandwidth: f64,
    /// Radius of the disc users stand in around their home server, m.
    #[arg(long, default_value_t = 500.0, value_name = "M")]
    pub radius: f64,
    /// Distance between neighbouring servers, m.
    #[arg(long, default_value_t = 1000.0, value_name = "M")]
    pub spacing: f64,
    /// Round trip time of the radio link, s.
    #[arg(long, default_value_t = 0.010, value_name = "S")]
    pub rtt: f64,
    /// Models users draw from (comma-separated config names).
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Weight dtypes users draw from (fp32, fp16, int8, q4).
    #[arg(long, value_delimiter = ',')]
    pub dtypes: Option<Vec<String>>,
    /// User devices users draw from (rows of devices.csv).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Server device (a row of devices.csv).
    #[arg(long)]
    pub server_device: Option<String>,
    /// Probability that a user fine-tunes (LoRA) instead of running inference.
    #[arg(long, default_value_t = 0.0)]
    pub finetune_fraction: f64,
    /// Deadline = this factor times the user's latency with an equal share of its home server.
    #[arg(long, value_name = "F")]
    pub deadline_factor: Option<f64>,
    /// Objective: min-max, sum or weighted-sum (weights drawn from 1..=3).
    #[arg(long, default_value = "min-max")]
    pub objective: String,
    /// Instance name (default alloc-K-users[-M-servers]).
    #[arg(long)]
    pub name: Option<String>,
    /// Directory holding devices.csv and models/ to draw from.
    #[arg(long, default_value = "instances", value_name = "DIR")]
    pub instances: PathBuf,
    /// Write the instance here instead of standard output (its model and device paths are made
    /// relative to this file).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let defaults = GenParams::default();
    let objective = AllocObjective::parse(&args.objective).ok_or_else(|| {
        Error::option(
            "--objective",
            format!(
                "expected min-max, sum or weighted-sum, got \"{}\"",
                args.objective
            ),
        )
    })?;
    let params = GenParams {
        users: args.users,
        servers: args.servers,
        seed: args.seed,
        resource_blocks: args.blocks,
        rb_bandwidth_hz: args.rb_bandwidth,
        cell_radius_m: args.radius,
        server_spacing_m: args.spacing,
        rtt_s: args.rtt,
        models: args.models.clone().unwrap_or(defaults.models),
        dtypes: args.dtypes.clone().unwrap_or(defaults.dtypes),
        user_devices: args.devices.clone().unwrap_or(defaults.user_devices),
        server_device: args.server_device.clone().unwrap_or(defaults.server_device),
        finetune_fraction: args.finetune_fraction,
        deadline_factor: args.deadline_factor,
        objective,
        name: args.name.clone(),
        ..defaults
    };
    let devices_path = args.instances.join("devices.csv");
    let models_dir = args.instances.join("models");
    let catalog = DeviceCatalog::load(&devices_path)?;
    let mut file = generate_spec(&params, &catalog, &models_dir).map_err(|e| match e {
        Error::Option { field, message } => Error::Option {
            field: format!("--{}", field.replace('_', "-")),
            message,
        },
        other => other,
    })?;
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
                "wrote {} ({} users, {} server(s))",
                out.display(),
                params.users,
                params.servers
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `target` as a path relative to directory `from` (both taken from the working directory).
pub(super) fn relative_to(target: &Path, from: &Path) -> edgeplan::Result<String> {
    let absolute = |p: &Path| -> edgeplan::Result<PathBuf> {
        let cwd = std::env::current_dir().map_err(|e| Error::io(p, e))?;
        let mut out = PathBuf::new();
        for c in cwd.join(p).components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        Ok(out)
    };
    let (target, from) = (absolute(target)?, absolute(from)?);
    let t: Vec<_> = target.components().collect();
    let f: Vec<_> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..f.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    Ok(rel.display().to_string())
}

fn objective_name(objective: AllocObjective) -> &'static str {
    match objective {
        AllocObjective::MinMax => "max latency",
        AllocObjective::Sum => "sum of latencies",
        AllocObjective::WeightedSum => "weighted sum of latencies",
    }
}

/// Reads `{"users": [{"server": .., "cut": .., "resource_blocks": .., "compute_share": ..}]}` or
/// the JSON output of `solve --json`; a server is its index or its name.
fn read_plan(path: &Path, problem: &AllocProblem) -> edgeplan::Result<AllocPlan> {
    let value = super::plan_json(path, "plan")?;
    let list = value
        .get("users")
        .and_then(|u| u.as_array())
        .ok_or_else(|| {
            Error::field(
            path,
            "users",
            "missing: expected {\"users\": [{\"server\": 0, \"cut\": 3, \"resource_blocks\": 5, \
             \"compute_share\": 0.2}, ...]}",
        )
        })?;
    let mut users = Vec::with_capacity(list.len());
    for (k, entry) in list.iter().enumerate() {
        let field = |name: &str| format!("users[{k}].{name}");
        let count = |name: &str| -> edgeplan::Result<usize> {
            match entry.get(name) {
                None | Some(serde_json::Value::Null) => Ok(0),
                Some(v) => v.as_u64().map(|v| v as usize).ok_or_else(|| {
                    Error::field(
                        path,
                        field(name),
                        format!("expected a non-negative integer, got {v}"),
                    )
                }),
            }
        };
        let server = match entry.get("server") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(name)) => Some(
                problem
                    .servers
                    .iter()
                    .position(|s| &s.name == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            problem.servers.iter().map(|s| s.name.as_str()).collect();
                        Error::field(
                            path,
                            field("server"),
                            format!(
                                "no server \"{name}\" in the instance (it has {})",
                                names.join(", ")
                            ),
                        )
                    })?,
            ),
            Some(v) => Some(v.as_u64().map(|v| v as usize).ok_or_else(|| {
                Error::field(
                    path,
                    field("server"),
                    format!("expected a server index, a server name or null, got {v}"),
                )
            })?),
        };
        let cut = match entry.get("cut").and_then(serde_json::Value::as_u64) {
            Some(c) => c as usize,
            None => {
                return Err(Error::field(
                    path,
                    field("cut"),
                    "missing or not a non-negative integer: the number of layers on the device",
                ))
            }
        };
        let compute_share = match entry.get("compute_share") {
            None | Some(serde_json::Value::Null) => 0.0,
            Some(v) => v
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| {
                    Error::field(
                        path,
                        field("compute_share"),
                        format!("expected a fraction of the server's compute in 0..=1, got {v}"),
                    )
                })?,
        };
        users.push(UserPlan {
            server,
            cut,
            resource_blocks: count("resource_blocks")?,
            compute_share,
        });
    }
    Ok(AllocPlan { users })
}

fn render_report(problem: &AllocProblem, r: &AllocReport) -> String {
    let s = &r.stats;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "instance  {}   {} users, {} server(s)   solver {}",
        r.instance,
        problem.users.len(),
        problem.servers.len(),
        s.solver
    );
    let _ = writeln!(
        out,
        "status    {} / plan {}   objective {} ({}, s)   bound {}   gap {}",
        s.termination,
        s.primal_status,
        num(s.objective),
        objective_name(problem.objective),
        num(s.bound),
        percent(s.gap),
    );
    let rounds = if r.rounds > 0 {
        format!("   outer-approximation rounds {}", r.rounds)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "time      build {}   solve {}{}{rounds}",
        secs(s.build_s),
        secs(s.solve_s),
        s.nodes.map_or(String::new(), |n| format!("   nodes {n}"))
    );
    if let (Some(plan), Some(ev)) = (&r.plan, &r.evaluation) {
        out.push('\n');
        out.push_str(&render_plan(problem, plan, ev));
    }
    if !r.explanation.is_empty() {
        let _ = writeln!(out, "\nwhy no plan is feasible:");
        for line in &r.explanation {
            let _ = writeln!(out, "  - {line}");
        }
    }
    out
}

fn render_plan(problem: &AllocProblem, plan: &AllocPlan, ev: &AllocEvaluation) -> String {
    let mut out = String::new();
    let multi = problem.servers.len() > 1;
    let _ = writeln!(
        out,
        "{:<8} {:<22} {:<22} {:<8} {:>9} {:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "user",
        "model",
        "device",
        "server",
        "on device",
        "blocks",
        "compute",
        "device",
        "link",
        "server",
        "latency",
        "deadline"
    );
    for (k, (u, p)) in problem.users.iter().zip(&plan.users).enumerate() {
        let e = &ev.users[k];
        let n = u.table.len();
        let offloads = p.server.is_some() && p.cut < n;
        let server = match p.server {
            Some(s) if offloads => problem.servers.get(s).map_or("?", |s| s.name.as_str()),
            _ => "-",
        };
        let deadline = u.deadline_s.map_or("-".into(), secs);
        let late = u
            .deadline_s
            .is_some_and(|d| !edgeplan::problems::split::evaluate::within(e.latency_s, d));
        let _ = writeln!(
            out,
            "{:<8} {:<22} {:<22} {:<8} {:>9} {:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}{}",
            u.name,
            u.model_key,
            u.device.device.name,
            server,
            format!("{}/{n}", p.cut.min(n)),
            if offloads {
                p.resource_blocks.to_string()
            } else {
                "-".into()
            },
            if offloads {
                format!("{:.1}%", 100.0 * p.compute_share)
            } else {
                "-".into()
            },
            secs(e.device_s),
            secs(e.link_s),
            secs(e.server_s),
            secs(e.latency_s),
            deadline,
            if late { "  LATE" } else { "" }
        );
    }
    let offloading = plan
        .users
        .iter()
        .zip(&problem.users)
        .filter(|(p, u)| p.server.is_some() && p.cut < u.table.len())
        .count();
    let latencies: Vec<f64> = ev.users.iter().map(|u| u.latency_s).collect();
    let max = latencies.iter().copied().fold(0.0, f64::max);
    let mean = latencies.iter().sum::<f64>() / latencies.len().max(1) as f64;
    let _ = writeln!(
        out,
        "\nusers     {} of {} offload{}   latency max {}  mean {}   objective ({}) {:.6} s",
        offloading,
        problem.users.len(),
        if multi { " (to any server)" } else { "" },
        secs(max),
        secs(mean),
        objective_name(problem.objective),
        ev.objective
    );
    for (srv, used) in problem.servers.iter().zip(&ev.servers) {
        let _ = writeln!(
            out,
            "server    {} ({}): blocks {}/{}   compute {:.1}%   memory {} / {} (shared parameters {})",
            srv.name,
            srv.device.name,
            used.resource_blocks,
            srv.resource_blocks,
            100.0 * used.compute_share,
            bytes(used.memory_bytes),
            bytes(srv.memory_bytes),
            bytes(used.shared_bytes)
        );
    }
    if ev.violations.is_empty() {
        let _ = writeln!(out, "constraints  all satisfied");
    } else {
        let _ = writeln!(out, "violated constraints");
        for v in &ev.violations {
            let _ = writeln!(out, "  - [{}] {}", v.constraint, v.message);
        }
    }
    out
}

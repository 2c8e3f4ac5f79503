//! `solve` and `evaluate` for green-scheduling instances: a per-server text timeline (Gantt),
//! per-job outcomes and the energy/carbon summary, or JSON.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use edgeplan::problems::green::evaluate::{evaluate as evaluate_schedule, GreenEvaluation};
use edgeplan::problems::green::heuristics::asap;
use edgeplan::problems::green::solve::{solve_with, GreenReport};
use edgeplan::problems::green::{GreenProblem, Schedule};
use edgeplan::solve::SolverPreset;
use edgeplan::Error;

use super::format::{num, percent, secs};
use super::{EvaluateArgs, SolveArgs};

pub fn solve(args: &SolveArgs, preset: &SolverPreset) -> anyhow::Result<ExitCode> {
    let problem = edgeplan::instance::green::load(&args.instance)?;
    let report = solve_with(&problem, preset, &super::run_options(args))?;
    super::emit_solve(args.json, &report, &report.stats, || {
        render_report(&problem, &report)
    })
}

pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let problem = edgeplan::instance::green::load(&args.instance)?;
    let schedule = read_schedule(&args.plan, &problem)?;
    let ev = evaluate_schedule(&problem, &schedule);
    let render = || render_schedule(&problem, &schedule, &ev);
    super::emit(args.json, &ev, render, ev.feasible())
}

/// A schedule file: the JSON of `solve --json` or `{"runs": [[null, {"job": 0, "level": 2},
/// ...], ...]}` (one row per server, one entry per slot).
fn read_schedule(path: &Path, problem: &GreenProblem) -> edgeplan::Result<Schedule> {
    let value = super::plan_json(path, "schedule")?;
    let schedule: Schedule = serde_json::from_value(value).map_err(|e| {
        Error::field(
            path,
            "runs",
            format!(
                "expected {{\"runs\": [[null, {{\"job\": 0, \"level\": 0}}, ...], ...]}} with one \
                 row per server ({}) and one entry per slot ({}): {e}",
                problem.servers.len(),
                problem.slots()
            ),
        )
    })?;
    if schedule.runs.len() != problem.servers.len()
        || schedule.runs.iter().any(|r| r.len() != problem.slots())
    {
        return Err(Error::field(
            path,
            "runs",
            format!(
                "expected {} rows of {} slots",
                problem.servers.len(),
                problem.slots()
            ),
        ));
    }
    Ok(schedule)
}

/// Letter of job `j` in the timeline.
fn letter(j: usize) -> char {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    LETTERS.get(j).map_or('*', |&c| c as char)
}

fn render_report(problem: &GreenProblem, report: &GreenReport) -> String {
    let s = &report.stats;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "solver    {}   {} / {}   objective {}   bound {}   gap {}   build {}   solve {}",
        s.solver,
        s.termination,
        s.primal_status,
        num(s.objective),
        num(s.bound),
        percent(s.gap),
        secs(s.build_s),
        secs(s.solve_s)
    );
    if let Some((vars, ints, rows)) = report.milp_size {
        let _ = writeln!(
            out,
            "milp      {vars} variables ({ints} binary), {rows} constraints"
        );
    }
    match (&report.schedule, &report.evaluation) {
        (Some(schedule), Some(ev)) => {
            out.push_str(&render_schedule(problem, schedule, ev));
            let baseline = evaluate_schedule(problem, &asap(problem));
            if baseline.objective > 0.0 {
                let _ = writeln!(
                    out,
                    "vs ASAP   carbon {:.1} g ({}), {:+.1}% saved by this schedule",
                    baseline.carbon_g,
                    if baseline.feasible() {
                        "meets every deadline"
                    } else {
                        "misses deadlines"
                    },
                    100.0 * (1.0 - ev.carbon_g / baseline.carbon_g.max(1e-12))
                );
            }
        }
        _ => out.push_str("no schedule\n"),
    }
    if !report.explanation.is_empty() {
        out.push_str("why no schedule meets every deadline:\n");
        for line in &report.explanation {
            let _ = writeln!(out, "  - {line}");
        }
    }
    out
}

fn render_schedule(problem: &GreenProblem, schedule: &Schedule, ev: &GreenEvaluation) -> String {
    let slots = problem.slots();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "instance  {}   {} servers, {} jobs, {} slots of {}",
        problem.name,
        problem.servers.len(),
        problem.jobs.len(),
        slots,
        secs(problem.slot_s)
    );
    out.push('\n');
    let width = problem
        .servers
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(6)
        .max(12);
    let mut tens = String::new();
    let mut units = String::new();
    for t in 0..slots {
        tens.push(if t % 10 == 0 {
            char::from_digit(((t / 10) % 10) as u32, 10).unwrap_or(' ')
        } else {
            ' '
        });
        units.push(char::from_digit((t % 10) as u32, 10).unwrap_or(' '));
    }
    let _ = writeln!(out, "{:<width$} {tens}", "slot");
    let _ = writeln!(out, "{:<width$} {units}", "");
    // Carbon intensity as digits 0-9 between the day's minimum and maximum.
    let (lo, hi) = problem
        .carbon_g_per_kwh
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &c| {
            (a.min(c), b.max(c))
        });
    let carbon: String = problem
        .carbon_g_per_kwh
        .iter()
        .map(|&c| {
            let x = if hi > lo { (c - lo) / (hi - lo) } else { 0.0 };
            char::from_digit((x * 9.0).round() as u32, 10).unwrap_or('?')
        })
        .collect();
    let _ = writeln!(out, "{:<width$} {carbon}", "carbon 0-9");
    for (m, server) in problem.servers.iter().enumerate() {
        let mut jobs = String::new();
        let mut levels = String::new();
        let mut sun = String::new();
        for t in 0..slots {
            match schedule.runs[m][t] {
                Some(r) => {
                    jobs.push(letter(r.job));
                    levels.push(char::from_digit((r.level + 1) as u32 % 10, 10).unwrap_or('?'));
                }
                None => {
                    jobs.push('.');
                    levels.push(' ');
                }
            }
            let busy = server.levels.last().map_or(0.0, |l| l.power_w);
            sun.push(match server.renewable_w[t] {
                r if r <= 0.0 => ' ',
                r if r >= busy => '#',
                _ => '+',
            });
        }
        let _ = writeln!(out, "{:<width$} {jobs}", server.name);
        let _ = writeln!(out, "{:<width$} {levels}", "  level");
        let _ = writeln!(out, "{:<width$} {sun}", "  renewable");
    }
    let _ = writeln!(
        out,
        "\n(carbon: 0 = cleanest, 9 = dirtiest slot; level: 1 = slowest DVFS level; renewable: + \
         covers part, # covers all of the fastest level's power)\n"
    );
    let _ = writeln!(
        out,
        "{:<3} {:<24} {:>6} {:>8} {:>10} {:>6} {:>12}",
        "", "job", "slots", "done at", "deadline", "slack", "work FLOP"
    );
    for (j, (job, outcome)) in problem.jobs.iter().zip(&ev.jobs).enumerate() {
        let _ = writeln!(
            out,
            "{:<3} {:<24} {:>6} {:>8} {:>10} {:>6} {:>12.3e}",
            letter(j),
            job.name,
            outcome.slots,
            outcome.completion.map_or("-".into(), |c| c.to_string()),
            job.deadline,
            outcome.slack_slots.map_or("-".into(), |s| s.to_string()),
            job.work_flop
        );
    }
    out.push('\n');
    for s in &ev.servers {
        let _ = writeln!(
            out,
            "server    {:<12} busy {:>3} slots   energy {:.3} kWh   from grid {:.3} kWh   \
             carbon {:.1} g",
            s.server, s.busy_slots, s.energy_kwh, s.grid_kwh, s.carbon_g
        );
    }
    let _ = writeln!(
        out,
        "summary   carbon {:.1} gCO2   grid energy {:.3} kWh of {:.3} kWh   cost {:.3}",
        ev.carbon_g, ev.grid_kwh, ev.energy_kwh, ev.cost
    );
    if ev.violations.is_empty() {
        out.push_str("every deadline and constraint met\n");
    } else {
        for v in &ev.violations {
            let _ = writeln!(out, "VIOLATED: {v}");
        }
    }
    out
}

/// Options of `edgeplan generate green`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Jobs.
    #[arg(long, default_value_t = 10)]
    pub jobs: usize,
    /// Servers.
    #[arg(long, default_value_t = 2)]
    pub servers: usize,
    /// Slots.
    #[arg(long, default_value_t = 24)]
    pub slots: usize,
    /// Slot length, s.
    #[arg(long, default_value_t = 3600.0, value_name = "S")]
    pub slot_s: f64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of the server-slots the jobs need at full speed.
    #[arg(long, default_value_t = 0.4)]
    pub load: f64,
    /// Multiplier on every job's window from release to deadline (smaller is tighter).
    #[arg(long, default_value_t = 1.0)]
    pub deadline_slack: f64,
    /// Server devices (rows of devices.csv, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Models (config names, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Objective: carbon, energy or cost.
    #[arg(long, default_value = "carbon")]
    pub objective: String,
    /// Instance name (default green-<J>j-<M>s-<T>t).
    #[arg(long)]
    pub name: Option<String>,
    /// Directory holding devices.csv and models/.
    #[arg(long, default_value = "instances", value_name = "DIR")]
    pub instances: std::path::PathBuf,
    /// Write the instance here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    use edgeplan::problems::green::generate::{generate_spec, write_instance, GenParams};
    let defaults = GenParams::default();
    let params = GenParams {
        jobs: args.jobs,
        servers: args.servers,
        slots: args.slots,
        slot_s: args.slot_s,
        seed: args.seed,
        load: args.load,
        deadline_slack: args.deadline_slack,
        server_devices: args.devices.clone().unwrap_or(defaults.server_devices),
        models: args.models.clone().unwrap_or(defaults.models),
        objective: args.objective.clone(),
        name: args.name.clone(),
    };
    let devices_path = args.instances.join("devices.csv");
    let models_dir = args.instances.join("models");
    let catalog = edgeplan::costs::DeviceCatalog::load(&devices_path)?;
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
            file.models_dir = Some(super::alloc::relative_to(&models_dir, dir)?);
            file.devices = Some(super::alloc::relative_to(&devices_path, dir)?);
            std::fs::write(out, write_instance(&params, &file)).map_err(|e| Error::io(out, e))?;
            eprintln!(
                "wrote {} ({} jobs, {} servers, {} slots)",
                out.display(),
                params.jobs,
                params.servers,
                params.slots
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

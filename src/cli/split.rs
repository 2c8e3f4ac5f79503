//! `solve` and `evaluate` for split instances: text and JSON output.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use edgeplan::problems::split::evaluate::{evaluate as evaluate_plan, gb, Evaluation};
use edgeplan::problems::split::solve::{solve as solve_split, SplitReport};
use edgeplan::problems::split::{SplitPlan, SplitProblem, Tier};
use edgeplan::solve::SolverPreset;
use edgeplan::Error;

use super::format::{bytes, num, percent, secs};
use super::{EvaluateArgs, SolveArgs};

pub fn solve(args: &SolveArgs, preset: &SolverPreset) -> anyhow::Result<ExitCode> {
    let problem = edgeplan::instance::split::load(&args.instance)?;
    let report = solve_split(&problem, preset, &super::run_options(args))?;
    super::emit_solve(args.json, &report, &report.stats, || {
        render_report(&problem, &report)
    })
}

pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let problem = edgeplan::instance::split::load(&args.instance)?;
    let plan = read_plan(&args.plan, problem.layers())?;
    let ev = evaluate_plan(&problem, &plan).map_err(|e| match e {
        Error::Option { message, .. } => Error::field(&args.plan, "assignment", message),
        other => other,
    })?;
    let render = || {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "instance  {}   model {}",
            problem.name, problem.table.model
        );
        out.push_str(&render_plan(&problem, &plan, &ev));
        out
    };
    super::emit(args.json, &ev, render, ev.feasible())
}

/// Reads `{"assignment": [...]}`, `{"cuts": [c1, c2]}`, or a `solve --json` report.
pub(crate) fn read_plan(path: &Path, layers: usize) -> edgeplan::Result<SplitPlan> {
    let value = super::plan_json(path, "plan")?;
    if let Some(a) = value.get("assignment") {
        let list = a
            .as_array()
            .ok_or_else(|| Error::field(path, "assignment", "expected a list of tiers"))?;
        let mut assignment = Vec::with_capacity(list.len());
        for (i, t) in list.iter().enumerate() {
            let tier = t.as_str().and_then(Tier::parse).ok_or_else(|| {
                Error::field(
                    path,
                    format!("assignment[{i}]"),
                    format!("expected \"device\", \"edge\" or \"cloud\", got {t}"),
                )
            })?;
            assignment.push(tier);
        }
        return Ok(SplitPlan { assignment });
    }
    if let Some(c) = value.get("cuts") {
        let cuts: Option<Vec<u64>> = c
            .as_array()
            .map(|a| {
                a.iter()
                    .map(serde_json::Value::as_u64)
                    .collect::<Option<Vec<_>>>()
            })
            .unwrap_or(None);
        return match cuts.as_deref() {
            Some(&[c1, c2]) if c1 <= c2 && (c2 as usize) <= layers => {
                Ok(SplitPlan::from_cuts(layers, c1 as usize, c2 as usize))
            }
            _ => Err(Error::field(
                path,
                "cuts",
                format!("expected [c1, c2] with 0 <= c1 <= c2 <= {layers} (layers 0..c1 on the device, c1..c2 on the edge, the rest in the cloud)"),
            )),
        };
    }
    Err(Error::field(
        path,
        "assignment",
        "missing: expected {\"assignment\": [\"device\", ...]} or {\"cuts\": [c1, c2]}",
    ))
}

fn layer_name(l: usize, n: usize) -> String {
    if l == 0 {
        "embed".into()
    } else if l + 1 == n {
        "head".into()
    } else {
        format!("block {}", l - 1)
    }
}

fn render_report(problem: &SplitProblem, r: &SplitReport) -> String {
    let s = &r.stats;
    let mut out = String::new();
    let dtype = problem
        .table
        .dtype
        .map_or("table".to_string(), |d| d.to_string());
    let _ = writeln!(
        out,
        "instance  {}   model {} ({dtype}, {} layers)   solver {}",
        r.instance,
        r.model,
        problem.layers(),
        s.solver
    );
    let objective_name = match problem.objective {
        edgeplan::problems::split::Objective::Latency => "latency, s",
        edgeplan::problems::split::Objective::Energy => "device energy, J",
        edgeplan::problems::split::Objective::Weighted { .. } => "weighted",
    };
    let _ = writeln!(
        out,
        "status    {} / plan {}   objective {} ({objective_name})   bound {}   gap {}",
        s.termination,
        s.primal_status,
        num(s.objective),
        num(s.bound),
        percent(s.gap),
    );
    let _ = writeln!(
        out,
        "time      build {}   solve {}{}",
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

fn render_plan(problem: &SplitProblem, plan: &SplitPlan, ev: &Evaluation) -> String {
    let n = problem.layers();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:<22} {:<34} {:>6}  {:>22}",
        "tier", "runs on", "layers", "count", "memory used / limit"
    );
    for t in Tier::ALL {
        let device = problem.tiers[t.index()]
            .as_ref()
            .map_or("(none)".to_string(), |r| r.device.name.clone());
        let layers: Vec<usize> = (0..n).filter(|&l| plan.assignment[l] == t).collect();
        let range = match (layers.first(), layers.last()) {
            (Some(&a), Some(&b)) if a == b => format!("{a} ({})", layer_name(a, n)),
            (Some(&a), Some(&b)) if b + 1 - a == layers.len() => {
                format!("{a}..={b} ({} .. {})", layer_name(a, n), layer_name(b, n))
            }
            (Some(_), Some(_)) => format!("{} layers, not contiguous", layers.len()),
            _ => "-".into(),
        };
        let mem = match ev.memory_limit_bytes[t.index()] {
            Some(limit) => format!("{} / {}", gb(ev.memory_bytes[t.index()]), gb(limit)),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<7} {:<22} {:<34} {:>6}  {:>22}",
            t.name(),
            device,
            range,
            layers.len(),
            mem
        );
    }
    if !ev.cuts.is_empty() {
        let _ = writeln!(out, "\ncuts");
        for c in &ev.cuts {
            let decode = c
                .bytes_per_decode_step
                .map_or(String::new(), |b| format!(", {} per decode step", bytes(b)));
            let _ = writeln!(
                out,
                "  after layer {} ({}): {} -> {}: {} in the first pass{decode}",
                c.after_layer,
                layer_name(c.after_layer, n),
                c.from,
                c.to,
                bytes(c.bytes_first_pass)
            );
        }
    }
    let _ = writeln!(out, "\nlatency breakdown");
    for t in Tier::ALL {
        let _ = writeln!(
            out,
            "  {:<16} {}",
            format!("{t} compute"),
            secs(ev.compute_s[t.index()])
        );
    }
    for (name, link) in [("radio link", &ev.wireless), ("backhaul", &ev.backhaul)] {
        let _ = writeln!(
            out,
            "  {:<16} {}   (up {}, down {}, {} crossings)",
            name,
            secs(link.time_s),
            bytes(link.bytes_up),
            bytes(link.bytes_down),
            link.crossings
        );
    }
    let _ = writeln!(out, "  {:<16} {}", "total", secs(ev.latency_s));
    let _ = writeln!(
        out,
        "device energy      {:.4} J (compute {:.4}, radio {:.4}, idle {:.4})",
        ev.energy_j, ev.energy_compute_j, ev.energy_radio_j, ev.energy_idle_j
    );
    if ev.violations.is_empty() {
        let _ = writeln!(out, "constraints        all satisfied");
    } else {
        let _ = writeln!(out, "violated constraints");
        for v in &ev.violations {
            let _ = writeln!(out, "  - [{}] {}", v.constraint, v.message);
        }
    }
    out
}

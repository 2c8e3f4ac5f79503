//! Text rendering of split reports and evaluations.

use std::fmt::Write as _;

use super::evaluate::{gb, Evaluation};
use super::solve::SplitReport;
use super::{Objective, SplitPlan, SplitProblem, Tier};
use crate::solve::format::{self, bytes, explanation, secs, time_line};

/// An evaluated plan as text: the instance and model, then the plan as [`report`] shows it.
pub fn evaluation(problem: &SplitProblem, plan: &SplitPlan, ev: &Evaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "instance  {}   model {}",
        problem.name, problem.table.model
    );
    out.push_str(&render_plan(problem, plan, ev));
    out
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

/// The report of `solve` as text: status, the plan per tier, cuts, latency breakdown, energy and
/// violated constraints, and why no plan is feasible when none is.
pub fn report(problem: &SplitProblem, r: &SplitReport) -> String {
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
        r.details.model,
        problem.layers(),
        s.solver
    );
    let objective_name = match problem.objective {
        Objective::Latency => "latency, s",
        Objective::Energy => "device energy, J",
        Objective::Weighted { .. } => "weighted",
    };
    out.push_str(&format::status_line(s, objective_name));
    out.push_str(&time_line(s, ""));
    if let (Some(plan), Some(ev)) = (&r.plan, &r.evaluation) {
        out.push('\n');
        out.push_str(&render_plan(problem, plan, ev));
    }
    out.push_str(&explanation("\nwhy no plan is feasible:", &r.explanation));
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
    out.push_str(&format::violations("constraints        ", &ev.violations));
    out
}

//! Text rendering of cache reports and evaluations.

use std::fmt::Write as _;

use super::evaluate::CacheEvaluation;
use super::solve::CacheReport;
use super::{CachePlan, CacheProblem, Placement};
use crate::solve::format::{bytes, solver_line};

/// An evaluated plan as text: the instance and hit ratio, then the per-server table, users and
/// summary.
pub fn evaluation(problem: &CacheProblem, plan: &CachePlan, ev: &CacheEvaluation) -> String {
    let placement = problem
        .placement(plan)
        .unwrap_or_else(|_| vec![Vec::new(); problem.servers.len()]);
    let mut out = header(problem);
    let _ = writeln!(out, "hit ratio {:.6}\n", ev.hit_ratio);
    out.push_str(&render_placement(problem, &placement, ev));
    out
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

/// The report of `solve` as text: status, demand statistics, the per-server table, users and
/// summary, and the users no placement can serve.
pub fn report(problem: &CacheProblem, report: &CacheReport) -> String {
    let s = &report.stats;
    let d = &report.details.demand;
    let mut out = header(problem);
    out.push_str(&solver_line(s, "hit ratio"));
    let _ = writeln!(
        out,
        "demand    {} requests, {} servable in time by some server (hit ratio at most {:.6}), \
         {} aggregated demands",
        d.requests, d.servable, d.servable_weight, d.demands
    );
    if let Some((vars, ints, rows)) = report.details.milp_size {
        let _ = writeln!(
            out,
            "milp      {vars} variables ({ints} binary), {rows} constraints{}",
            s.nodes.map_or(String::new(), |n| format!(", {n} nodes"))
        );
    }
    out.push('\n');
    if let (Some(plan), Some(ev)) = (&report.plan, &report.evaluation) {
        match problem.placement(plan) {
            Ok(placement) => out.push_str(&render_placement(problem, &placement, ev)),
            Err(e) => {
                let _ = writeln!(out, "internal error: the plan does not decode: {e}");
            }
        }
    } else {
        out.push_str("no plan\n");
    }
    if !report.explanation.is_empty() {
        let _ = writeln!(
            out,
            "\n{} user(s) no placement can serve:",
            report.explanation.len()
        );
        for line in report.explanation.iter().take(10) {
            let _ = writeln!(out, "  - {line}");
        }
        if report.explanation.len() > 10 {
            let _ = writeln!(
                out,
                "  ... ({} more in --json)",
                report.explanation.len() - 10
            );
        }
    }
    out
}

fn render_placement(problem: &CacheProblem, placement: &Placement, ev: &CacheEvaluation) -> String {
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

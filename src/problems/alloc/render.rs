//! Text rendering of allocation reports and evaluations.

use std::fmt::Write as _;

use super::evaluate::AllocEvaluation;
use super::solve::AllocReport;
use super::{AllocObjective, AllocPlan, AllocProblem};
use crate::solve::format::{self, bytes, explanation, secs, time_line};
use crate::solve::violation::within;

/// An evaluated plan as text: the instance and objective, then the per-user table.
pub fn evaluation(problem: &AllocProblem, plan: &AllocPlan, ev: &AllocEvaluation) -> String {
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
    out.push_str(&render_plan(problem, plan, ev));
    out
}

fn objective_name(objective: AllocObjective) -> &'static str {
    match objective {
        AllocObjective::MinMax => "max latency",
        AllocObjective::Sum => "sum of latencies",
        AllocObjective::WeightedSum => "weighted sum of latencies",
    }
}

/// The report of `solve` as text: status, the per-user table and summary, and why no plan is
/// feasible when none is.
pub fn report(problem: &AllocProblem, r: &AllocReport) -> String {
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
    out.push_str(&format::status_line(
        s,
        &format!("{}, s", objective_name(problem.objective)),
    ));
    let rounds = if r.details.rounds > 0 {
        format!("   outer-approximation rounds {}", r.details.rounds)
    } else {
        String::new()
    };
    out.push_str(&time_line(s, &rounds));
    if let (Some(plan), Some(ev)) = (&r.plan, &r.evaluation) {
        out.push('\n');
        out.push_str(&render_plan(problem, plan, ev));
    }
    out.push_str(&explanation("\nwhy no plan is feasible:", &r.explanation));
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
        let late = u.deadline_s.is_some_and(|d| !within(e.latency_s, d));
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
    out.push_str(&format::violations("constraints  ", &ev.violations));
    out
}

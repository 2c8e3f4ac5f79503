//! Text rendering of pipeline reports and evaluations.

use std::fmt::Write as _;

use super::evaluate::Evaluation;
use super::solve::PipelineReport;
use super::{Objective, PipelinePlan, PipelineProblem};
use crate::solve::format::{self, bytes, explanation, secs, time_line};

/// An evaluated plan as text: the instance and model, then the plan as [`report`] shows it.
pub fn evaluation(problem: &PipelineProblem, plan: &PipelinePlan, ev: &Evaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "instance  {}   model {}   {} nodes",
        problem.name,
        problem.table.model,
        problem.node_count()
    );
    out.push_str(&render_plan(problem, plan, ev));
    out
}

/// The report of `solve` as text: status, the stages and routes, latency, throughput, energy,
/// violated constraints, and why no plan is feasible when none is.
pub fn report(problem: &PipelineProblem, r: &PipelineReport) -> String {
    let s = &r.stats;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "instance  {}   model {} ({} layers)   {} nodes, {} links   solver {}",
        r.instance,
        r.details.model,
        problem.layers(),
        r.details.nodes,
        r.details.links,
        s.solver
    );
    let objective_name = match problem.objective {
        Objective::Latency => "latency, s",
        Objective::Throughput => "period, s per request",
        Objective::Energy => "energy, J",
        Objective::Weighted { .. } => "weighted",
    };
    out.push_str(&format::status_line(s, objective_name));
    let size = r.details.milp.map_or(String::new(), |m| m.text());
    out.push_str(&time_line(s, &size));
    if let (Some(plan), Some(ev)) = (&r.plan, &r.evaluation) {
        out.push('\n');
        out.push_str(&render_plan(problem, plan, ev));
    }
    out.push_str(&explanation("\nwhy no plan is feasible:", &r.explanation));
    out
}

fn path(problem: &PipelineProblem, route: &[usize]) -> String {
    let names: Vec<&str> = route
        .iter()
        .map(|&i| problem.nodes[i].name.as_str())
        .collect();
    names.join(" -> ")
}

fn render_plan(problem: &PipelineProblem, plan: &PipelinePlan, ev: &Evaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<20} {:<22} {:<12} {:>12}  {:>24}",
        "stage", "node", "device", "layers", "compute", "memory used / limit"
    );
    for (k, (st, u)) in plan.stages.iter().zip(&ev.stages).enumerate() {
        let node = &problem.nodes[st.node];
        let mem = &ev.nodes[st.node];
        let _ = writeln!(
            out,
            "{:<6} {:<20} {:<22} {:<12} {:>12}  {:>24}",
            k,
            node.name,
            node.resource.device.name,
            format!("{}..{}", st.start, st.end),
            secs(u.compute_s),
            format!(
                "{} / {}",
                bytes(mem.memory_bytes),
                bytes(mem.memory_limit_bytes)
            ),
        );
    }
    let _ = writeln!(out, "\nroutes");
    if plan.routes.input.len() > 1 {
        let _ = writeln!(out, "  input         {}", path(problem, &plan.routes.input));
    }
    for (k, r) in plan.routes.forward.iter().enumerate() {
        let _ = writeln!(out, "  stage {k} -> {}  {}", k + 1, path(problem, r));
    }
    for (k, r) in plan.routes.backward.iter().enumerate() {
        let _ = writeln!(out, "  grads {} -> {k}  {}", k + 1, path(problem, r));
    }
    if plan.routes.output.len() > 1 {
        let _ = writeln!(
            out,
            "  token back    {}",
            path(problem, &plan.routes.output)
        );
    }
    if !ev.arcs.is_empty() {
        let _ = writeln!(out, "\nlinks used (per request)");
        for a in &ev.arcs {
            let _ = writeln!(
                out,
                "  {} -> {}: {} in {} crossings, airtime {}",
                a.from,
                a.to,
                bytes(a.bytes),
                a.crossings,
                secs(a.airtime_s)
            );
        }
    }
    let _ = writeln!(out, "\nlatency            {}", secs(ev.latency_s));
    let tokens = ev
        .tokens_per_s
        .map_or(String::new(), |t| format!(", {t:.4} tokens/s"));
    let _ = writeln!(
        out,
        "period             {} ({:.4} requests/s{tokens})",
        secs(ev.period_s),
        ev.requests_per_s
    );
    let _ = writeln!(
        out,
        "source energy      {:.4} J (compute {:.4}, radio {:.4}, idle {:.4}){}",
        ev.source_energy_j,
        ev.source_compute_j,
        ev.source_radio_j,
        ev.source_idle_j,
        if ev.energy_j != ev.source_energy_j {
            format!("   all nodes {:.4} J", ev.energy_j)
        } else {
            String::new()
        }
    );
    out.push_str(&format::violations("constraints        ", &ev.violations));
    out
}

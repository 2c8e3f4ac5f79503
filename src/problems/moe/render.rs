//! Text rendering of MoE reports and evaluations.

use std::fmt::Write as _;

use super::evaluate::Evaluation;
use super::solve::MoeReport;
use super::{Choice, MoePlan, MoeProblem, Objective, Task};
use crate::solve::format::{self, bytes, explanation, secs, time_line};

/// An evaluated plan as text.
pub fn evaluation(problem: &MoeProblem, plan: &MoePlan, ev: &Evaluation) -> String {
    let mut out = header(problem);
    out.push_str(&render_plan(problem, plan, ev));
    out
}

fn header(problem: &MoeProblem) -> String {
    let moe = problem.moe_blocks();
    let first = &problem.model.blocks[moe[0]];
    let (hottest, pair) = problem.routing.skew_summary();
    format!(
        "instance  {}   model {} ({} MoE blocks x {} experts, top-{})   task {}   {} nodes, home \
         {}\nrouting   {} ({} distinct patterns); per block the hottest expert serves {:.1}% of \
         tokens, the most co-activated pair {:.1}%\n",
        problem.name,
        problem.model.model,
        moe.len(),
        first.experts,
        first.top_k,
        problem.task.name(),
        problem.node_count(),
        problem.nodes[problem.home].name,
        problem.routing.origin,
        problem.routing.pattern_count(),
        100.0 * hottest,
        100.0 * pair
    )
}

/// The report of `solve` as text.
pub fn report(problem: &MoeProblem, r: &MoeReport) -> String {
    let s = &r.stats;
    let mut out = header(problem);
    let _ = writeln!(out, "solver    {}", s.solver);
    let objective_name = match problem.objective {
        Objective::Latency => "expected decode latency, s per token",
        Objective::Throughput => "period, s per token",
        Objective::Energy => "expected device energy, J per token",
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

fn render_plan(problem: &MoeProblem, plan: &MoePlan, ev: &Evaluation) -> String {
    let mut out = String::new();
    match problem.task {
        Task::Placement => {
            let names: Vec<&str> = problem.nodes.iter().map(|n| n.name.as_str()).collect();
            let _ = writeln!(
                out,
                "{:<6} {:>12}  experts per node (primary; +replicas)   [{}]",
                "block",
                "expected",
                names.join(", ")
            );
            for (j, b) in ev.blocks.iter().enumerate() {
                let mut primary = vec![0usize; names.len()];
                let mut extra = vec![0usize; names.len()];
                for replicas in &plan.experts[j] {
                    primary[replicas[0].node] += 1;
                    for r in &replicas[1..] {
                        extra[r.node] += 1;
                    }
                }
                let cells: Vec<String> = primary
                    .iter()
                    .zip(&extra)
                    .map(|(p, x)| {
                        if *x > 0 {
                            format!("{p}+{x}")
                        } else {
                            p.to_string()
                        }
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "{:<6} {:>12}  {}",
                    b.layer - 1,
                    secs(b.expected_s),
                    cells.join(" ")
                );
            }
        }
        Task::Cache => {
            let _ = writeln!(
                out,
                "{:<6} {:>12}  {:>8} {:>8} {:>8}",
                "block", "expected", "resident", "fetch", "offload"
            );
            for (j, b) in ev.blocks.iter().enumerate() {
                let count = |c: Choice| plan.choices[j].iter().filter(|x| **x == c).count();
                let _ = writeln!(
                    out,
                    "{:<6} {:>12}  {:>8} {:>8} {:>8}",
                    b.layer - 1,
                    secs(b.expected_s),
                    count(Choice::Resident),
                    count(Choice::Fetch),
                    count(Choice::Offload)
                );
            }
        }
    }
    let _ = writeln!(out, "\nmemory");
    for m in &ev.memory {
        let _ = writeln!(
            out,
            "  {:<16} {:>4} experts   {} / {}",
            m.node,
            m.experts,
            bytes(m.used_bytes),
            bytes(m.capacity_bytes)
        );
    }
    let mc = &ev.monte_carlo;
    let _ = writeln!(
        out,
        "\nexpected latency   {} per token (Monte Carlo {} +- {}, {} tokens: {})",
        secs(ev.latency_s),
        secs(mc.mean_latency_s),
        secs(mc.latency_half_width_s),
        mc.tokens,
        if mc.agrees {
            "agrees"
        } else {
            "OUTSIDE the 95% interval"
        }
    );
    let _ = writeln!(
        out,
        "period             {} ({:.2} tokens/s, bottleneck {})",
        secs(ev.period_s),
        ev.tokens_per_s,
        ev.bottleneck
    );
    let _ = writeln!(out, "energy             {:.5} J per token", ev.energy_j);
    if let Some(p) = ev.prefill_s {
        let _ = writeln!(
            out,
            "prefill            {} for {} prompt tokens (expected loads, fluid approximation)",
            secs(p),
            problem.prompt_tokens
        );
    }
    for (name, sim) in [("LRU", &ev.lru), ("LFU", &ev.lfu)] {
        if let Some(sim) = sim {
            let _ =
                writeln!(
                out,
                "{name} cache (same slots, misses fetched; {} {}): {} +- {} per token, {:.4} J, \
                 hit ratio {:.3}",
                sim.tokens,
                if problem.routing.measured { "trace tokens in order" } else { "sampled tokens" },
                secs(sim.mean_latency_s),
                secs(sim.latency_half_width_s),
                sim.mean_energy_j,
                sim.hit_ratio
            );
        }
    }
    out.push_str(&format::violations("constraints        ", &ev.violations));
    out
}

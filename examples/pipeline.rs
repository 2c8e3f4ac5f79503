//! In-network model splitting: Llama-3.2-3B pipelined from a phone across a home network. The
//! exact plan against the fast heuristic and the EdgeShard baseline, each checked by the
//! independent evaluator, then the same network when the requests stream (throughput).
//!
//! Run with `cargo run --release --example pipeline` from the repository root.

use std::path::Path;

use edgeplan::formulation::{Formulation, ReportOf};
use edgeplan::instance::pipeline::Pipeline;
use edgeplan::problems::pipeline::Objective;
use edgeplan::solve::{RunOptions, SolverPreset, Termination};

fn main() -> edgeplan::Result<()> {
    let mut problem = Pipeline::load(Path::new("instances/pipeline/home-llama3.2-3b-phone.toml"))?;
    let run = RunOptions::default();
    for objective in [Objective::Latency, Objective::Throughput] {
        problem.objective = objective;
        println!(
            "{} ({} nodes, {} layers), objective {}",
            problem.name,
            problem.node_count(),
            problem.layers(),
            objective.name()
        );
        let exact = Pipeline::solve(&problem, &SolverPreset::resolve("highs")?, &run)?;
        assert_eq!(exact.stats.termination, Termination::Optimal);
        let best = value(&exact);
        for solver in ["highs", "local-search", "edgeshard"] {
            let report = Pipeline::solve(&problem, &SolverPreset::resolve(solver)?, &run)?;
            let plan = report.plan.as_ref().expect("the home network is feasible");
            let evaluation = Pipeline::evaluate(&problem, plan)?;
            assert!(evaluation.violations.is_empty(), "{solver}: {evaluation:?}");
            assert!(
                value(&report) >= best * (1.0 - 1e-9),
                "{solver} beat the optimum"
            );
            let stages: Vec<String> = plan
                .stages
                .iter()
                .map(|s| format!("{}[{}..{}]", problem.nodes[s.node].name, s.start, s.end))
                .collect();
            println!(
                "  {solver:<13} latency {:>8.3} s   {:>7.3} requests/s   {:>6.2}x optimum   {}",
                evaluation.latency_s,
                evaluation.requests_per_s,
                value(&report) / best,
                stages.join(" -> ")
            );
        }
    }
    Ok(())
}

/// The evaluated objective of a report's plan.
fn value(report: &ReportOf<Pipeline>) -> f64 {
    report.evaluation.as_ref().map_or(f64::NAN, |e| e.objective)
}

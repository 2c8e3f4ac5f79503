//! Parameter-sharing cache placement: which fine-tuned variants each edge server stores when
//! variants share their base model's blocks. The exact optimum, the sharing-aware greedy and
//! independent caching (no sharing) on the shipped small instance.
//!
//! Run with `cargo run --release --example cache` from the repository root.

use std::path::Path;

use edgeplan::formulation::Formulation;
use edgeplan::instance::cache::Cache;
use edgeplan::solve::{RunOptions, SolverPreset};

fn main() -> edgeplan::Result<()> {
    let problem = Cache::load(Path::new("instances/cache/cache-small.toml"))?;
    let run = RunOptions::default();
    let mut best = None;
    for name in ["highs", "greedy", "independent"] {
        let report = Cache::solve(&problem, &SolverPreset::resolve(name)?, &run)?;
        let plan = report.plan.as_ref().expect("a placement always exists");
        let evaluation = Cache::evaluate(&problem, plan)?;
        assert!(evaluation.violations.is_empty(), "storage is respected");
        let stored: f64 = evaluation.servers.iter().map(|s| s.stored_bytes).sum();
        println!(
            "{name:>11}: hit ratio {:.4}, {:.2} GB stored, sharing saves {:.2} GB",
            evaluation.hit_ratio,
            stored / 1e9,
            evaluation.sharing_saved_bytes / 1e9
        );
        let optimum = *best.get_or_insert(evaluation.hit_ratio);
        assert!(
            evaluation.hit_ratio <= optimum + 1e-9,
            "no heuristic beats the optimum"
        );
    }
    Ok(())
}

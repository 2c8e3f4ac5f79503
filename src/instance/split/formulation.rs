//! The split formulation as the registry sees it.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::formulation::{DataDir, Formulation, ReportOf, Sense};
use crate::problems::split::evaluate::Evaluation;
use crate::problems::split::generate::{random_problem, GenParams};
use crate::problems::split::solve::{SplitDetails, SOLVERS};
use crate::problems::split::{self, SplitPlan, SplitProblem, Tier};
use crate::solve::{RunOptions, SolverPreset};

/// Cut-layer selection for split inference and split fine-tuning (device | edge | cloud).
pub struct Split;

impl Formulation for Split {
    const NAME: &'static str = "split";
    const SOLVERS: &'static [&'static str] = &SOLVERS;
    /// End-to-end latency (s), device energy (J), layers per tier.
    const METRICS: &'static [&'static str] = &[
        "latency_s",
        "energy_j",
        "device_layers",
        "edge_layers",
        "cloud_layers",
    ];
    const SENSE: Sense = Sense::Minimise;
    /// Architectures, devices and links are synthetic.
    const NEEDS_DATA: bool = false;

    type Problem = SplitProblem;
    type Plan = SplitPlan;
    type Evaluation = Evaluation;
    type Details = SplitDetails;
    type GenParams = GenParams;

    fn instance_name(problem: &SplitProblem) -> &str {
        &problem.name
    }

    fn load(path: &Path) -> Result<SplitProblem> {
        super::load(path)
    }

    fn load_document(document: Value, path: &Path) -> Result<SplitProblem> {
        crate::instance::load_document::<super::SplitInstanceFile>(document, path)?
            .into_problem(path)
    }

    fn check_params(params: &GenParams) -> Result<()> {
        params.validate()
    }

    fn generate(params: &GenParams, _data: DataDir<'_>) -> Result<SplitProblem> {
        params.validate()?;
        Ok(random_problem(params.seed, params))
    }

    fn solve(
        problem: &SplitProblem,
        preset: &SolverPreset,
        run: &RunOptions,
    ) -> Result<ReportOf<Self>> {
        split::solve::solve(problem, preset, run)
    }

    /// `{"assignment": ["device", ...]}` (one tier per layer, any plan) or `{"cuts": [c1, c2]}`.
    fn read_plan(problem: &SplitProblem, value: &Value, path: &Path) -> Result<SplitPlan> {
        let layers = problem.layers();
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
                .map(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
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

    fn evaluate(problem: &SplitProblem, plan: &SplitPlan) -> Result<Evaluation> {
        split::evaluate::evaluate(problem, plan)
    }

    fn objective(evaluation: &Evaluation) -> f64 {
        evaluation.objective
    }

    fn violations(evaluation: &Evaluation) -> usize {
        evaluation.violations.len()
    }

    fn metrics(_problem: &SplitProblem, e: &Evaluation) -> Vec<f64> {
        let [device, edge, cloud] = e.layers_per_tier.map(|n| n as f64);
        vec![e.latency_s, e.energy_j, device, edge, cloud]
    }

    fn render_report(problem: &SplitProblem, report: &ReportOf<Self>) -> String {
        split::render::report(problem, report)
    }

    fn render_evaluation(problem: &SplitProblem, plan: &SplitPlan, ev: &Evaluation) -> String {
        split::render::evaluation(problem, plan, ev)
    }
}

//! The cache-placement formulation as the registry sees it.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::formulation::{DataDir, Formulation, ReportOf, Sense};
use crate::problems::cache::evaluate::CacheEvaluation;
use crate::problems::cache::solve::{CacheDetails, SOLVERS};
use crate::problems::cache::{self, CachePlan, CacheProblem};
use crate::solve::{RunOptions, SolverPreset};

use super::generate::GenParams;

/// Parameter-sharing cache placement (TrimCaching) of LLM variants on edge servers.
pub struct Cache;

impl Formulation for Cache {
    const NAME: &'static str = "cache";
    const SOLVERS: &'static [&'static str] = &SOLVERS;
    /// Expected hit ratio, bytes stored over all servers, bytes saved by sharing.
    const METRICS: &'static [&'static str] = &["hit_ratio", "stored_bytes", "sharing_saved_bytes"];
    const SENSE: Sense = Sense::Maximise;

    type Problem = CacheProblem;
    type Plan = CachePlan;
    type Evaluation = CacheEvaluation;
    type Details = CacheDetails;
    type GenParams = GenParams;

    fn instance_name(problem: &CacheProblem) -> &str {
        &problem.name
    }

    fn load(path: &Path) -> Result<CacheProblem> {
        super::load(path)
    }

    fn load_document(document: Value, path: &Path) -> Result<CacheProblem> {
        crate::instance::load_document::<super::CacheInstanceFile>(document, path)?
            .into_problem(path)
    }

    fn check_params(params: &GenParams) -> Result<()> {
        params.validate()
    }

    fn generate(params: &GenParams, data: DataDir<'_>) -> Result<CacheProblem> {
        super::generate::generate(params, data.catalog, &data.dir.join("models"))
    }

    fn solve(
        problem: &CacheProblem,
        preset: &SolverPreset,
        run: &RunOptions,
    ) -> Result<ReportOf<Self>> {
        cache::solve::solve_with(problem, preset, run)
    }

    /// `{"servers": [{"server": "es-0", "models": ["name", ...]}, ...]}`: one entry per server,
    /// in instance order.
    fn read_plan(problem: &CacheProblem, value: &Value, path: &Path) -> Result<CachePlan> {
        let plan: CachePlan = serde_json::from_value(value.clone()).map_err(|e| {
            Error::field(
                path,
                "servers",
                format!(
                    "expected {{\"servers\": [{{\"server\": \"es-0\", \"models\": [\"name\", \
                     ...]}}, ...]}}: {e}"
                ),
            )
        })?;
        problem
            .check_plan(&plan)
            .map_err(|message| Error::field(path, "servers", message))?;
        Ok(plan)
    }

    fn evaluate(problem: &CacheProblem, plan: &CachePlan) -> Result<CacheEvaluation> {
        let placement = problem
            .check_plan(plan)
            .map_err(|message| Error::option("servers", message))?;
        Ok(cache::evaluate::evaluate(problem, &placement))
    }

    fn objective(evaluation: &CacheEvaluation) -> f64 {
        evaluation.hit_ratio
    }

    fn violations(evaluation: &CacheEvaluation) -> usize {
        evaluation.violations.len()
    }

    fn metrics(_problem: &CacheProblem, e: &CacheEvaluation) -> Vec<f64> {
        let stored = e.servers.iter().map(|s| s.stored_bytes).sum::<f64>();
        vec![e.hit_ratio, stored, e.sharing_saved_bytes]
    }

    fn render_report(problem: &CacheProblem, report: &ReportOf<Self>) -> String {
        cache::render::report(problem, report)
    }

    fn render_evaluation(problem: &CacheProblem, plan: &CachePlan, ev: &CacheEvaluation) -> String {
        cache::render::evaluation(problem, plan, ev)
    }
}

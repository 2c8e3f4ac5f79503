//! The green-scheduling formulation as the registry sees it.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::formulation::{DataDir, Formulation, ReportOf, Sense};
use crate::problems::green::evaluate::GreenEvaluation;
use crate::problems::green::solve::{GreenDetails, SOLVERS};
use crate::problems::green::{self, GreenProblem, Schedule};
use crate::solve::{RunOptions, SolverPreset};

use super::generate::GenParams;

/// Energy-aware scheduling of edge LLM jobs against grid carbon and on-site renewables.
pub struct Green;

impl Formulation for Green {
    const NAME: &'static str = "green";
    const SOLVERS: &'static [&'static str] = &SOLVERS;
    /// Grid carbon (g), grid energy (kWh), total energy (kWh), energy cost.
    const METRICS: &'static [&'static str] = &["carbon_g", "grid_kwh", "energy_kwh", "cost"];
    const SENSE: Sense = Sense::Minimise;

    type Problem = GreenProblem;
    type Plan = Schedule;
    type Evaluation = GreenEvaluation;
    type Details = GreenDetails;
    type GenParams = GenParams;

    fn instance_name(problem: &GreenProblem) -> &str {
        &problem.name
    }

    fn load(path: &Path) -> Result<GreenProblem> {
        super::load(path)
    }

    fn load_document(document: Value, path: &Path) -> Result<GreenProblem> {
        crate::instance::load_document::<super::GreenInstanceFile>(document, path)?
            .into_problem(path)
    }

    fn check_params(params: &GenParams) -> Result<()> {
        params.validate()
    }

    fn generate(params: &GenParams, data: DataDir<'_>) -> Result<GreenProblem> {
        super::generate::generate(params, data.dir)
    }

    fn solve(
        problem: &GreenProblem,
        preset: &SolverPreset,
        run: &RunOptions,
    ) -> Result<ReportOf<Self>> {
        green::solve::solve_with(problem, preset, run)
    }

    /// `{"runs": [[null, {"job": 0, "level": 2}, ...], ...]}`: one row per server, one entry per
    /// slot.
    fn read_plan(problem: &GreenProblem, value: &Value, path: &Path) -> Result<Schedule> {
        let schedule: Schedule = serde_json::from_value(value.clone()).map_err(|e| {
            Error::field(
                path,
                "runs",
                format!(
                    "expected {{\"runs\": [[null, {{\"job\": 0, \"level\": 0}}, ...], ...]}} with one \
                     row per server ({}) and one entry per slot ({}): {e}",
                    problem.servers.len(),
                    problem.slots()
                ),
            )
        })?;
        problem
            .check_schedule(&schedule)
            .map_err(|message| Error::field(path, "runs", message))?;
        Ok(schedule)
    }

    fn evaluate(problem: &GreenProblem, schedule: &Schedule) -> Result<GreenEvaluation> {
        problem
            .check_schedule(schedule)
            .map_err(|message| Error::option("runs", message))?;
        Ok(green::evaluate::evaluate(problem, schedule))
    }

    fn objective(evaluation: &GreenEvaluation) -> f64 {
        evaluation.objective
    }

    fn violations(evaluation: &GreenEvaluation) -> usize {
        evaluation.violations.len()
    }

    fn metrics(_problem: &GreenProblem, e: &GreenEvaluation) -> Vec<f64> {
        vec![e.carbon_g, e.grid_kwh, e.energy_kwh, e.cost]
    }

    fn render_report(problem: &GreenProblem, report: &ReportOf<Self>) -> String {
        green::render::report(problem, report)
    }

    fn render_evaluation(problem: &GreenProblem, plan: &Schedule, ev: &GreenEvaluation) -> String {
        green::render::evaluation(problem, plan, ev)
    }
}

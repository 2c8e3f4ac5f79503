//! One sweep run: build the instance of a grid point and seed, solve it with a preset, and read
//! the problem's metrics off the independent evaluation.

use serde_json::{Map, Value};

use super::spec::{set_path, Problem, Source, Sweep};
use crate::error::{Error, Result};
use crate::formulation::DataDir;
pub use crate::formulation::Instance;
use crate::solve::{SolveStats, SolverPreset};

/// The problem-specific metric columns of a run row, read off the evaluation of its plan (after
/// them every row has `violations`, the number of violated constraints): the formulation's
/// [`METRICS`](crate::formulation::Formulation::METRICS).
pub fn metric_names(problem: Problem) -> &'static [&'static str] {
    problem.formulation().metric_names()
}

/// What one solve produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Status, objective, bound, gap and times.
    pub stats: SolveStats,
    /// One value per [`metric_names`] entry (`None` without a plan).
    pub metrics: Vec<Option<f64>>,
    /// Violated constraints of the plan (`None` without a plan).
    pub violations: Option<usize>,
}

/// Builds the instance of `params` (see [`Sweep::parameters_at`]).
pub fn build_instance(sweep: &Sweep, params: Map<String, Value>) -> Result<Instance> {
    let formulation = sweep.problem.formulation();
    match &sweep.source {
        Source::Generate { data_dir, catalog } => {
            let data = DataDir {
                dir: data_dir,
                catalog,
            };
            formulation.generate(Value::Object(params), data)
        }
        Source::Base { path, value } => {
            let mut doc = value.clone();
            for (key, v) in &params {
                set_path(&mut doc, key, v).map_err(|m| Error::field(path, key, m))?;
            }
            formulation.load_document(doc, path)
        }
    }
}

/// Checks at load time that `params` make an instance: generator parameters are parsed and
/// validated (generators are not run); a base instance is built in full.
pub(crate) fn check_instance(sweep: &Sweep, params: Map<String, Value>) -> Result<()> {
    match &sweep.source {
        Source::Generate { .. } => sweep
            .problem
            .formulation()
            .check_params(Value::Object(params)),
        Source::Base { .. } => build_instance(sweep, params).map(|_| ()),
    }
}

/// Solves `instance` with `preset` and reads the metrics off the evaluation.
pub fn solve(instance: &Instance, preset: &SolverPreset) -> Result<Outcome> {
    let solved = instance.solve(preset, &Default::default())?;
    let metrics = match solved.metrics {
        Some(values) => values.into_iter().map(Some).collect(),
        None => vec![None; instance.metric_names().len()],
    };
    Ok(Outcome {
        stats: solved.stats,
        metrics,
        violations: solved.violations,
    })
}

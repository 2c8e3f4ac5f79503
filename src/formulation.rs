//! The one shape every formulation has ([`Formulation`]), and its object-safe face
//! ([`AnyFormulation`], [`Instance`]) through which the command line and the sweep runner drive
//! any registered problem without knowing which it is.
//!
//! A formulation is a problem type with its instance files, generator, solvers, independent
//! evaluator and rendering: `load` or `generate` an instance, `solve` it with a preset into a
//! [`Report`], read a plan file with `read_plan` (a badly shaped plan is an error naming the
//! field, never a panic or a silent violation), check it with `evaluate`, and render either as
//! text. The registry ([`crate::registry`]) lists the formulations; adding one to it is all the
//! command line, the sweeps and the conformance suite need.
//!
//! Layering: this module sits above `problems` and below `instance` (whose per-problem modules
//! implement the trait); it knows no concrete problem.

use std::fmt::Debug;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::costs::device::DeviceCatalog;
use crate::error::{one_line, Error, Result};
use crate::solve::{Report, RunOptions, SolveStats, SolverPreset};

/// Whether a problem's objective is minimised (latency, energy, carbon) or maximised (hit
/// ratio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// Smaller is better.
    Minimise,
    /// Larger is better.
    Maximise,
}

impl Sense {
    /// True when `a` is strictly better than `b` by more than the relative tolerance `tol`.
    pub fn better(self, a: f64, b: f64, tol: f64) -> bool {
        let margin = tol * a.abs().max(b.abs()).max(1.0);
        match self {
            Sense::Minimise => a < b - margin,
            Sense::Maximise => a > b + margin,
        }
    }
}

/// Where generators find the device catalog and the model configs: an `instances` folder
/// holding `devices.csv` and `models/`.
#[derive(Debug, Clone, Copy)]
pub struct DataDir<'a> {
    /// The folder.
    pub dir: &'a Path,
    /// Its device catalog, loaded once.
    pub catalog: &'a DeviceCatalog,
}

/// The report type of formulation `F`.
pub type ReportOf<F> =
    Report<<F as Formulation>::Plan, <F as Formulation>::Evaluation, <F as Formulation>::Details>;

/// One problem of edgeplan: its instances, generator, solvers, evaluator and rendering.
pub trait Formulation: 'static {
    /// The problem's name, as in an instance file's `problem` field (`"split"`).
    const NAME: &'static str;
    /// The solvers it understands: a preset (`solvers/`) whose `solver` is one of these is
    /// accepted.
    const SOLVERS: &'static [&'static str];
    /// The problem-specific metric columns of a sweep row ([`Formulation::metrics`]).
    const METRICS: &'static [&'static str];
    /// Whether the objective is minimised or maximised.
    const SENSE: Sense;
    /// Whether the generator draws from the data folder (device catalog, model configs).
    const NEEDS_DATA: bool = true;

    /// A validated instance: plain data.
    type Problem: Clone + Debug + Send + Sync + 'static;
    /// A plan, as `solve --json` writes it.
    type Plan: Serialize + Clone + Debug + Send + Sync + 'static;
    /// What the independent evaluator recomputes for a plan.
    type Evaluation: Serialize + Clone + Debug + Send + Sync + 'static;
    /// What the problem's report adds to the common members.
    type Details: Serialize + Clone + Debug + Send + Sync + 'static;
    /// Generator parameters (a sweep's `[fixed]` and `[grid]` tables; fields left out take
    /// their default).
    type GenParams: DeserializeOwned + Default + Clone + Debug + Send + Sync + 'static;

    /// The instance's name.
    fn instance_name(problem: &Self::Problem) -> &str;
    /// Loads and validates an instance file (TOML or JSON).
    fn load(path: &Path) -> Result<Self::Problem>;
    /// Validates an instance document already parsed (a sweep's base instance with its
    /// parameters set); `path` anchors relative paths and names the file in errors.
    fn load_document(document: Value, path: &Path) -> Result<Self::Problem>;
    /// Checks generator parameters without generating; the error names the bad parameter.
    fn check_params(params: &Self::GenParams) -> Result<()>;
    /// A seeded random instance.
    fn generate(params: &Self::GenParams, data: DataDir<'_>) -> Result<Self::Problem>;
    /// Solves with a preset; `run` asks for a HiGHS log or a model export.
    fn solve(
        problem: &Self::Problem,
        preset: &SolverPreset,
        run: &RunOptions,
    ) -> Result<ReportOf<Self>>;
    /// Reads a plan from its JSON (the `plan` member of a report, or a plan written by hand);
    /// errors are [`Error::Field`] errors of `path` naming the bad member.
    fn read_plan(problem: &Self::Problem, plan: &Value, path: &Path) -> Result<Self::Plan>;
    /// The independent evaluation of any plan of the right shape.
    fn evaluate(problem: &Self::Problem, plan: &Self::Plan) -> Result<Self::Evaluation>;
    /// The evaluated objective.
    fn objective(evaluation: &Self::Evaluation) -> f64;
    /// The number of violated constraints.
    fn violations(evaluation: &Self::Evaluation) -> usize;
    /// One value per [`Formulation::METRICS`] entry.
    fn metrics(problem: &Self::Problem, evaluation: &Self::Evaluation) -> Vec<f64>;
    /// The report as text.
    fn render_report(problem: &Self::Problem, report: &ReportOf<Self>) -> String;
    /// An evaluated plan as text.
    fn render_evaluation(
        problem: &Self::Problem,
        plan: &Self::Plan,
        evaluation: &Self::Evaluation,
    ) -> String;
}

/// The object-safe face of a formulation, for code that picks the problem at run time.
pub trait AnyFormulation: Send + Sync {
    /// [`Formulation::NAME`].
    fn name(&self) -> &'static str;
    /// [`Formulation::SOLVERS`].
    fn solvers(&self) -> &'static [&'static str];
    /// [`Formulation::METRICS`].
    fn metric_names(&self) -> &'static [&'static str];
    /// [`Formulation::SENSE`].
    fn sense(&self) -> Sense;
    /// [`Formulation::NEEDS_DATA`].
    fn needs_data(&self) -> bool;
    /// Loads an instance file.
    fn load(&self, path: &Path) -> Result<Instance>;
    /// Validates a parsed instance document.
    fn load_document(&self, document: Value, path: &Path) -> Result<Instance>;
    /// Checks generator parameters given as a JSON object.
    fn check_params(&self, params: Value) -> Result<()>;
    /// Generates an instance from parameters given as a JSON object.
    fn generate(&self, params: Value, data: DataDir<'_>) -> Result<Instance>;
}

/// [`AnyFormulation`] of the formulation `F`.
pub struct Registered<F>(std::marker::PhantomData<fn() -> F>);

impl<F> Registered<F> {
    /// The face of `F`.
    pub const fn new() -> Self {
        Registered(std::marker::PhantomData)
    }
}

impl<F: Formulation> Default for Registered<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Generator parameters from a JSON object; an unknown or mistyped field is an option error.
fn parse_params<T: DeserializeOwned>(params: Value) -> Result<T> {
    serde_json::from_value(params)
        .map_err(|e| Error::option("generator parameters", one_line(&e.to_string())))
}

impl<F: Formulation> AnyFormulation for Registered<F> {
    fn name(&self) -> &'static str {
        F::NAME
    }
    fn solvers(&self) -> &'static [&'static str] {
        F::SOLVERS
    }
    fn metric_names(&self) -> &'static [&'static str] {
        F::METRICS
    }
    fn sense(&self) -> Sense {
        F::SENSE
    }
    fn needs_data(&self) -> bool {
        F::NEEDS_DATA
    }
    fn load(&self, path: &Path) -> Result<Instance> {
        Ok(Instance::new::<F>(F::load(path)?))
    }
    fn load_document(&self, document: Value, path: &Path) -> Result<Instance> {
        Ok(Instance::new::<F>(F::load_document(document, path)?))
    }
    fn check_params(&self, params: Value) -> Result<()> {
        F::check_params(&parse_params(params)?)
    }
    fn generate(&self, params: Value, data: DataDir<'_>) -> Result<Instance> {
        let params: F::GenParams = parse_params(params)?;
        Ok(Instance::new::<F>(F::generate(&params, data)?))
    }
}

/// A validated instance of some formulation.
#[derive(Debug)]
pub struct Instance(Box<dyn AnyInstance>);

impl Instance {
    /// Wraps a problem of formulation `F`.
    pub fn new<F: Formulation>(problem: F::Problem) -> Instance {
        Instance(Box::new(Typed::<F> { problem }))
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Its formulation's metric names ([`Formulation::METRICS`]).
    pub fn metric_names(&self) -> &'static [&'static str] {
        self.0.metric_names()
    }

    /// Solves with a preset.
    pub fn solve(&self, preset: &SolverPreset, run: &RunOptions) -> Result<Solved<'_>> {
        self.0.solve(preset, run)
    }

    /// Reads the plan in the JSON `plan` (of the file `path`, named in errors) and evaluates it.
    pub fn evaluate(&self, plan: &Value, path: &Path) -> Result<Evaluated<'_>> {
        self.0.evaluate(plan, path)
    }
}

trait AnyInstance: Debug + Send + Sync {
    fn name(&self) -> &str;
    fn metric_names(&self) -> &'static [&'static str];
    fn solve(&self, preset: &SolverPreset, run: &RunOptions) -> Result<Solved<'_>>;
    fn evaluate(&self, plan: &Value, path: &Path) -> Result<Evaluated<'_>>;
}

struct Typed<F: Formulation> {
    problem: F::Problem,
}

impl<F: Formulation> Debug for Typed<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(F::NAME)
            .field("problem", &self.problem)
            .finish()
    }
}

impl<F: Formulation> Typed<F> {
    /// Checks that every number a solve or an evaluation reports (`values`, each with what it
    /// is, and the `metrics`) is finite: a non-finite value is an internal error naming the
    /// instance, never a reported answer.
    fn check_finite(
        &self,
        values: impl Iterator<Item = (String, Option<f64>)>,
        metrics: Option<&[f64]>,
    ) -> Result<()> {
        let name = F::instance_name(&self.problem);
        let metrics = F::METRICS
            .iter()
            .zip(metrics.unwrap_or_default())
            .map(|(metric, &v)| (format!("metric `{metric}`"), Some(v)));
        for (what, value) in values.chain(metrics) {
            if let Some(v) = value {
                crate::limits::finite(&format!("{what} on instance `{name}`"), v)?;
            }
        }
        Ok(())
    }
}

impl<F: Formulation> AnyInstance for Typed<F> {
    fn name(&self) -> &str {
        F::instance_name(&self.problem)
    }

    fn metric_names(&self) -> &'static [&'static str] {
        F::METRICS
    }

    fn solve(&self, preset: &SolverPreset, run: &RunOptions) -> Result<Solved<'_>> {
        let report = F::solve(&self.problem, preset, run)?;
        let stats = &report.stats;
        let evaluation = report.evaluation.as_ref();
        let evaluated_objective = evaluation.map(F::objective);
        let metrics = evaluation.map(|ev| F::metrics(&self.problem, ev));
        let at = |what: &str| format!("the {what} of solver `{}`", stats.solver);
        let reported = [
            (at("objective"), stats.objective),
            (at("bound"), stats.bound),
            (at("gap"), stats.gap),
            (at("evaluated objective"), evaluated_objective),
        ];
        self.check_finite(reported.into_iter(), metrics.as_deref())?;
        Ok(Solved {
            stats: report.stats.clone(),
            metrics,
            violations: evaluation.map(F::violations),
            evaluated_objective,
            report: Box::new(TypedReport::<F> {
                problem: &self.problem,
                report,
            }),
        })
    }

    fn evaluate(&self, plan: &Value, path: &Path) -> Result<Evaluated<'_>> {
        let plan = F::read_plan(&self.problem, plan, path)?;
        // A plan whose shape does not match the instance is an error of the plan file.
        let evaluation = F::evaluate(&self.problem, &plan).map_err(|e| match e {
            Error::Option { field, message } => Error::field(path, field, message),
            other => other,
        })?;
        let objective = F::objective(&evaluation);
        let metrics = F::metrics(&self.problem, &evaluation);
        let reported = [("the objective of the plan".to_string(), Some(objective))];
        self.check_finite(reported.into_iter(), Some(&metrics))?;
        Ok(Evaluated {
            objective,
            violations: F::violations(&evaluation),
            evaluation: Box::new(TypedEvaluation::<F> {
                problem: &self.problem,
                plan,
                evaluation,
            }),
        })
    }
}

/// A solve of any formulation: its statistics and the metrics of its plan; the report itself
/// is rendered on demand as JSON or text.
pub struct Solved<'a> {
    /// Status, objective, bound, gap and times.
    pub stats: SolveStats,
    /// One value per metric name (`None` without a plan).
    pub metrics: Option<Vec<f64>>,
    /// Violated constraints of the plan (`None` without a plan).
    pub violations: Option<usize>,
    /// The evaluator's objective of the plan (`None` without a plan).
    pub evaluated_objective: Option<f64>,
    report: Box<dyn AnyReport + 'a>,
}

impl Solved<'_> {
    /// True when the report holds a plan that meets every constraint.
    pub fn feasible(&self) -> bool {
        self.stats.feasible()
    }

    /// The report as `solve --json` prints it (pretty JSON).
    pub fn json(&self) -> Result<String> {
        self.report.json()
    }

    /// The report as `solve` prints it.
    pub fn text(&self) -> String {
        self.report.text()
    }
}

/// A report or an evaluation whose type is erased: JSON or text on demand.
trait AnyReport {
    fn json(&self) -> Result<String>;
    fn text(&self) -> String;
}

struct TypedReport<'a, F: Formulation> {
    problem: &'a F::Problem,
    report: ReportOf<F>,
}

impl<F: Formulation> AnyReport for TypedReport<'_, F> {
    fn json(&self) -> Result<String> {
        serde_json::to_string_pretty(&self.report)
            .map_err(|e| Error::Solver(format!("the report does not serialize: {e}")))
    }
    fn text(&self) -> String {
        F::render_report(self.problem, &self.report)
    }
}

/// An evaluated plan of any formulation: its objective and violations; the evaluation itself
/// is rendered on demand as JSON or text.
pub struct Evaluated<'a> {
    /// The evaluator's objective.
    pub objective: f64,
    /// Violated constraints.
    pub violations: usize,
    evaluation: Box<dyn AnyReport + 'a>,
}

impl Evaluated<'_> {
    /// True when the plan meets every constraint.
    pub fn feasible(&self) -> bool {
        self.violations == 0
    }

    /// The evaluation as `evaluate --json` prints it (pretty JSON).
    pub fn json(&self) -> Result<String> {
        self.evaluation.json()
    }

    /// The evaluation as `evaluate` prints it.
    pub fn text(&self) -> String {
        self.evaluation.text()
    }
}

struct TypedEvaluation<'a, F: Formulation> {
    problem: &'a F::Problem,
    plan: F::Plan,
    evaluation: F::Evaluation,
}

impl<F: Formulation> AnyReport for TypedEvaluation<'_, F> {
    fn json(&self) -> Result<String> {
        serde_json::to_string_pretty(&self.evaluation)
            .map_err(|e| Error::Solver(format!("the evaluation does not serialize: {e}")))
    }
    fn text(&self) -> String {
        F::render_evaluation(self.problem, &self.plan, &self.evaluation)
    }
}

/// The plan in a plan file: the member `plan` of a `solve --json` report (`schedule` in older
/// green reports), or the whole file.
pub fn plan_json(path: &Path) -> Result<Value> {
    let text = crate::files::read_text(path)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| Error::Syntax {
        path: path.to_path_buf(),
        message: format!("invalid JSON: {e}"),
    })?;
    for key in ["plan", "schedule"] {
        match value.get(key) {
            Some(plan) if !plan.is_null() => return Ok(plan.clone()),
            Some(_) => {
                return Err(Error::field(
                    path,
                    key,
                    format!("the report holds no {key} (null)"),
                ))
            }
            None => {}
        }
    }
    Ok(value)
}

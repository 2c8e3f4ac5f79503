//! The native part of the `edgeplan` Python package: a thin layer over the edgeplan library that
//! goes through its registry ([`ProblemKind`]) and its type-erased instances ([`Instance`]), so
//! every registered problem works without being named here.
//!
//! Values cross the boundary as JSON text (serde_json here, Python's `json` module there): a
//! report becomes exactly the dict that `edgeplan solve --json` prints, numbers included
//! (both sides round-trip floats exactly). Errors become the exception classes of the command
//! line's exit codes with the command line's one-line messages. Solves, sweeps and generators
//! run with the GIL released.
//!
//! The Python-facing wrappers that build pandas DataFrames live in `edgeplan/__init__.py`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use edgeplan::costs::{DeviceCatalog, Dtype, ModelConfig};
use edgeplan::error::one_line;
use edgeplan::formulation::{DataDir, Instance};
use edgeplan::registry::ProblemKind;
use edgeplan::solve::{RunOptions, SolverPreset};
use edgeplan::sweep::stats::{read_runs, summarize as summarize_runs, SummaryOptions};
use edgeplan::sweep::{run_sweep, Shard, Sweep, SweepOptions};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

create_exception!(
    _edgeplan,
    EdgeplanError,
    PyException,
    "Base class of every error edgeplan raises."
);
create_exception!(
    _edgeplan,
    BadInputError,
    EdgeplanError,
    "Bad input: a file, field, CSV line, option or parameter (the command line's exit code 2)."
);
create_exception!(
    _edgeplan,
    InfeasibleError,
    EdgeplanError,
    "No feasible plan, or a plan that violates constraints (the command line's exit code 1). \
     Its `result` attribute holds the `Result` (of `solve`) or `Evaluation` (of `evaluate`)."
);
create_exception!(
    _edgeplan,
    SolverError,
    EdgeplanError,
    "The solver failed, or an internal check did (the command line's exit code 3)."
);

/// The exception of a library error, with the message the command line prints after `error: `.
fn py_error(err: edgeplan::Error) -> PyErr {
    let message = one_line(&err.to_string());
    if err.is_bad_input() {
        BadInputError::new_err(message)
    } else {
        SolverError::new_err(message)
    }
}

/// A library result with its error mapped to the exception.
fn lib<T>(result: edgeplan::Result<T>) -> PyResult<T> {
    result.map_err(py_error)
}

/// Python's `json.loads(text)`.
fn from_json(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// A Python value (dicts, lists, str, numbers, bool, None; numpy values and paths too) as JSON,
/// through `json.dumps`;
/// `what` names the argument in the error of a value JSON cannot hold.
fn to_json(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    let py = value.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("allow_nan", false)?;
    // numpy scalars and arrays, and paths, as plain values (`edgeplan._json_default`).
    if let Ok(default) = py
        .import("edgeplan")
        .and_then(|m| m.getattr("_json_default"))
    {
        kwargs.set_item("default", default)?;
    }
    let text = py
        .import("json")?
        .call_method("dumps", (value,), Some(&kwargs))
        .map_err(|e| {
            BadInputError::new_err(format!(
                "option `{what}`: expected plain data (dict, list, str, int, float, bool, \
                 None) with finite numbers: {}",
                e.value(py)
            ))
        })?;
    let text: String = text.extract()?;
    serde_json::from_str(&text).map_err(|e| BadInputError::new_err(format!("option `{what}`: {e}")))
}

/// A validated instance of any registered problem.
///
/// Made by `load`, `from_dict` or `generate`; solved by `solve`, checked by `evaluate`.
#[pyclass(frozen, module = "edgeplan", name = "Problem")]
struct Problem {
    kind: ProblemKind,
    instance: Arc<Instance>,
    /// The file it came from (`None` for a generated instance).
    source: Option<PathBuf>,
}

#[pymethods]
impl Problem {
    /// The problem's name, as in an instance file's `problem` field (`"split"`).
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind.name()
    }

    /// The instance's name.
    #[getter]
    fn name(&self) -> String {
        self.instance.name().to_string()
    }

    /// The problem's metric names (the sweep columns between `solve_s` and `violations`).
    #[getter]
    fn metric_names(&self) -> Vec<&'static str> {
        self.instance.metric_names().to_vec()
    }

    /// The solver names the problem understands (a preset's `solver` field).
    #[getter]
    fn solvers(&self) -> Vec<&'static str> {
        self.kind.solvers().to_vec()
    }

    /// The instance file, or `None` for a generated instance.
    #[getter]
    fn source(&self) -> Option<PathBuf> {
        self.source.clone()
    }

    fn __repr__(&self) -> String {
        match &self.source {
            Some(path) => format!(
                "<edgeplan.Problem {} `{}` from {}>",
                self.kind,
                self.instance.name(),
                path.display()
            ),
            None => format!(
                "<edgeplan.Problem {} `{}`>",
                self.kind,
                self.instance.name()
            ),
        }
    }
}

/// The outcome of `solve`: status, objective, bound, gap, plan and evaluation, as plain Python
/// values.
#[pyclass(frozen, module = "edgeplan", name = "Result")]
struct SolveResult {
    /// `solve --json`'s text.
    json: String,
    /// `solve`'s text.
    text: String,
    report: Py<PyAny>,
    metrics: Option<Vec<f64>>,
    metric_names: Vec<&'static str>,
    violations: Option<usize>,
    feasible: bool,
}

impl SolveResult {
    fn stat<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.report.bind(py).get_item("stats")?.get_item(key)
    }
}

#[pymethods]
impl SolveResult {
    /// Why the solve stopped: `optimal`, `limit_reached`, `infeasible`, `unbounded`,
    /// `no_solution_found` or `heuristic_done`.
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stat(py, "termination")
    }

    /// Whether a plan exists and meets every constraint: `feasible`, `infeasible` or `no_plan`.
    #[getter]
    fn primal_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stat(py, "primal_status")
    }

    /// True when the result holds a plan that meets every constraint.
    #[getter]
    fn feasible(&self) -> bool {
        self.feasible
    }

    /// The objective of the plan (`None` without a plan).
    #[getter]
    fn objective<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stat(py, "objective")
    }

    /// The best proven bound (`None` for heuristics).
    #[getter]
    fn bound<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stat(py, "bound")
    }

    /// The relative gap between objective and bound (`None` without both).
    #[getter]
    fn gap<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stat(py, "gap")
    }

    /// The solver preset's name.
    #[getter]
    fn solver<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stat(py, "solver")
    }

    /// The plan (a dict, as in `solve --json`; `None` without a plan). Pass it to `evaluate`.
    #[getter]
    fn plan<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.report.bind(py).get_item("plan")
    }

    /// The independent evaluation of the plan (a dict; `None` without a plan).
    #[getter]
    fn evaluation<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.report.bind(py).get_item("evaluation")
    }

    /// Why no plan is feasible, in the instance's terms (a list of str; empty otherwise).
    #[getter]
    fn explanation<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.report.bind(py).get_item("explanation")
    }

    /// The problem's metrics of the plan, as a sweep row records them (a dict; `None` without
    /// a plan).
    #[getter]
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(values) = &self.metrics else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        for (name, value) in self.metric_names.iter().zip(values) {
            dict.set_item(name, value)?;
        }
        Ok(Some(dict))
    }

    /// Violated constraints of the plan (`None` without a plan).
    #[getter]
    fn violations(&self) -> Option<usize> {
        self.violations
    }

    /// The whole report: a new dict equal to what `edgeplan solve --json` prints.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        from_json(py, &self.json)
    }

    /// The report as JSON text, as `edgeplan solve --json` prints it.
    fn to_json(&self) -> String {
        self.json.clone()
    }

    /// The report as `edgeplan solve` prints it.
    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let objective = self.stat(py, "objective")?.repr()?;
        Ok(format!(
            "<edgeplan.Result {} {} objective={}>",
            self.stat(py, "termination")?,
            self.stat(py, "primal_status")?,
            objective
        ))
    }
}

/// The outcome of `evaluate`: the independent evaluator's objective and violations of a plan.
#[pyclass(frozen, module = "edgeplan", name = "Evaluation")]
struct Evaluation {
    json: String,
    text: String,
    objective: f64,
    violations: usize,
}

#[pymethods]
impl Evaluation {
    /// The evaluator's objective of the plan.
    #[getter]
    fn objective(&self) -> f64 {
        self.objective
    }

    /// Violated constraints.
    #[getter]
    fn violations(&self) -> usize {
        self.violations
    }

    /// True when the plan meets every constraint.
    #[getter]
    fn feasible(&self) -> bool {
        self.violations == 0
    }

    /// The evaluation: a new dict equal to what `edgeplan evaluate --json` prints.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        from_json(py, &self.json)
    }

    /// The evaluation as JSON text, as `edgeplan evaluate --json` prints it.
    fn to_json(&self) -> String {
        self.json.clone()
    }

    /// The evaluation as `edgeplan evaluate` prints it.
    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "<edgeplan.Evaluation objective={} violations={}>",
            self.objective, self.violations
        )
    }
}

/// An `InfeasibleError` carrying `result`.
fn infeasible(py: Python<'_>, message: String, result: Py<PyAny>) -> PyErr {
    let err = InfeasibleError::new_err(message);
    if let Err(e) = err.value(py).setattr("result", result) {
        return e;
    }
    err
}

/// Loads and validates an instance file (TOML or JSON) of any registered problem.
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<Problem> {
    let (kind, instance) = py
        .detach(|| {
            let kind = ProblemKind::of_instance(&path)?;
            let instance = kind.formulation().load(&path)?;
            Ok((kind, instance))
        })
        .map_err(py_error)?;
    Ok(Problem {
        kind,
        instance: Arc::new(instance),
        source: Some(path),
    })
}

/// Validates an instance document (a dict as an instance file holds it, `problem` included);
/// relative paths in it are resolved against `base_dir`, and errors name `base_dir/<dict>`.
#[pyfunction]
#[pyo3(signature = (document, base_dir = PathBuf::from(".")), text_signature = "(document, base_dir='.')")]
fn from_dict(document: &Bound<'_, PyAny>, base_dir: PathBuf) -> PyResult<Problem> {
    let path = base_dir.join("<dict>");
    let document = to_json(document, "document")?;
    let kind = match document.get("problem") {
        None => {
            return Err(py_error(edgeplan::Error::field(
                &path,
                "problem",
                "missing: expected e.g. problem = \"split\"",
            )))
        }
        Some(Value::String(name)) => ProblemKind::parse(name).ok_or_else(|| {
            py_error(edgeplan::Error::field(
                &path,
                "problem",
                format!(
                    "unknown problem \"{name}\"; supported: {}",
                    ProblemKind::names()
                ),
            ))
        })?,
        Some(other) => {
            return Err(py_error(edgeplan::Error::field(
                &path,
                "problem",
                format!("expected the name of a problem, got {other}"),
            )))
        }
    };
    let instance = kind
        .formulation()
        .load_document(document, &path)
        .map_err(|err| match err {
            // The loader words a document's type errors for sweeps; this one is the caller's.
            edgeplan::Error::Syntax { path, message } => edgeplan::Error::Syntax {
                path,
                message: message
                    .strip_prefix("with the sweep's parameters: ")
                    .map_or(message.clone(), String::from),
            },
            other => other,
        })
        .map_err(py_error)?;
    Ok(Problem {
        kind,
        instance: Arc::new(instance),
        source: None,
    })
}

/// Solves `problem` with a solver preset (a built-in name or a preset TOML file);
/// `time_limit` (s) and `gap` override the preset's `time_limit_s` and `mip_rel_gap`. Raises
/// `InfeasibleError` (with the result) when no plan meets every constraint, unless `check` is
/// false.
#[pyfunction]
#[pyo3(signature = (problem, solver = "highs", time_limit = None, gap = None, check = true))]
fn solve(
    py: Python<'_>,
    problem: &Problem,
    solver: &str,
    time_limit: Option<f64>,
    gap: Option<f64>,
    check: bool,
) -> PyResult<Py<SolveResult>> {
    let instance = Arc::clone(&problem.instance);
    let solver = solver.to_string();
    let solved = py
        .detach(move || -> edgeplan::Result<_> {
            let mut preset = SolverPreset::resolve(&solver)?;
            preset.override_with(time_limit, gap, None)?;
            let solved = instance.solve(&preset, &RunOptions::default())?;
            Ok((
                solved.json()?,
                solved.text(),
                solved.metrics.clone(),
                solved.violations,
                solved.feasible(),
                solved.stats.clone(),
            ))
        })
        .map_err(py_error)?;
    let (json, text, metrics, violations, feasible, stats) = solved;
    let report = from_json(py, &json)?;
    let explanation: Vec<String> = report.bind(py).get_item("explanation")?.extract()?;
    let result = Py::new(
        py,
        SolveResult {
            json,
            text,
            report,
            metrics,
            metric_names: problem.instance.metric_names().to_vec(),
            violations,
            feasible,
        },
    )?;
    if check && !feasible {
        let mut message = format!(
            "instance `{}`: no feasible plan (solver `{}`: {}, {})",
            problem.instance.name(),
            stats.solver,
            stats.termination,
            stats.primal_status
        );
        if !explanation.is_empty() {
            message.push_str(": ");
            message.push_str(&one_line(&explanation.join("; ")));
        }
        return Err(infeasible(py, message, result.into_any()));
    }
    Ok(result)
}

/// Checks a plan (a dict as in a report's `plan`, or a whole report, or a `Result`) against
/// `problem` with the independent evaluator. Raises `InfeasibleError` (with the evaluation)
/// when the plan violates a constraint, unless `check` is false.
#[pyfunction]
#[pyo3(signature = (problem, plan, check = true))]
fn evaluate(
    py: Python<'_>,
    problem: &Problem,
    plan: &Bound<'_, PyAny>,
    check: bool,
) -> PyResult<Evaluation> {
    let path = Path::new("<plan>");
    let plan = if let Ok(result) = plan.cast::<SolveResult>() {
        result.get().plan(py)?
    } else {
        plan.clone()
    };
    let mut plan = to_json(&plan, "plan")?;
    // A whole report: its plan (as `edgeplan evaluate` reads a report file).
    if let Some(inner) = plan.get("plan").cloned() {
        if inner.is_null() {
            return Err(py_error(edgeplan::Error::field(
                path,
                "plan",
                "the report holds no plan (null)",
            )));
        }
        plan = inner;
    }
    let instance = Arc::clone(&problem.instance);
    let (json, text, objective, violations) = py
        .detach(move || -> edgeplan::Result<_> {
            let evaluated = instance.evaluate(&plan, path)?;
            Ok((
                evaluated.json()?,
                evaluated.text(),
                evaluated.objective,
                evaluated.violations,
            ))
        })
        .map_err(py_error)?;
    let evaluation = Evaluation {
        json,
        text,
        objective,
        violations,
    };
    if check && violations > 0 {
        let message = format!(
            "instance `{}`: the plan violates {violations} constraint{}",
            problem.instance.name(),
            if violations == 1 { "" } else { "s" }
        );
        let evaluation = Py::new(py, evaluation)?;
        return Err(infeasible(py, message, evaluation.into_any()));
    }
    Ok(evaluation)
}

/// A seeded random instance of problem `kind`, from generator parameters (a dict, named as in
/// a sweep's `[fixed]` and `[grid]` tables); `data_dir` holds `devices.csv` and `models/`.
#[pyfunction]
fn generate(
    py: Python<'_>,
    kind: &str,
    params: &Bound<'_, PyDict>,
    data_dir: PathBuf,
) -> PyResult<Problem> {
    let problem = ProblemKind::parse(kind).ok_or_else(|| {
        py_error(edgeplan::Error::option(
            "kind",
            format!(
                "unknown problem \"{kind}\"; supported: {}",
                ProblemKind::names()
            ),
        ))
    })?;
    let params = to_json(params.as_any(), "generator parameters")?;
    if let Some(Value::String(name)) = params.get("name") {
        if name.trim().is_empty() {
            return Err(py_error(edgeplan::Error::option(
                "name",
                "expected a non-empty instance name",
            )));
        }
    }
    let formulation = problem.formulation();
    let instance = py
        .detach(move || -> edgeplan::Result<_> {
            let catalog = if formulation.needs_data() {
                load_catalog(&data_dir)?
            } else {
                DeviceCatalog::default()
            };
            formulation.generate(
                params,
                DataDir {
                    dir: &data_dir,
                    catalog: &catalog,
                },
            )
        })
        .map_err(py_error)?;
    Ok(Problem {
        kind: problem,
        instance: Arc::new(instance),
        source: None,
    })
}

/// The device catalog of a data folder; an error names `data_dir`.
fn load_catalog(data_dir: &Path) -> edgeplan::Result<DeviceCatalog> {
    let devices = DeviceCatalog::load(&data_dir.join("devices.csv"))
        .map_err(|e| edgeplan::Error::option("data_dir", e.to_string()))?;
    let models = data_dir.join("models");
    if !models.is_dir() {
        return Err(edgeplan::Error::option(
            "data_dir",
            format!("{} is not a directory of model configs", models.display()),
        ));
    }
    Ok(devices)
}

/// The per-layer cost table of a model (a config name in `models_dir` or a model TOML file)
/// at `dtype` (fp32, fp16, int8 or q4), as the CSV text `edgeplan costs` writes.
#[pyfunction]
fn costs_csv(model: &str, dtype: &str, models_dir: PathBuf) -> PyResult<String> {
    let weights = Dtype::parse(dtype).ok_or_else(|| {
        py_error(edgeplan::Error::option(
            "dtype",
            format!("expected fp32, fp16, int8 or q4, got `{dtype}`"),
        ))
    })?;
    let path = if model.ends_with(".toml") || Path::new(model).is_file() {
        PathBuf::from(model)
    } else {
        lib(ModelConfig::resolve(&models_dir, model))?
    };
    let config = lib(ModelConfig::load(&path))?;
    let table = config.architecture.cost_table(&config.name, weights);
    let mut csv = Vec::new();
    table
        .write_csv(&mut csv)
        .map_err(|e| SolverError::new_err(format!("internal error: the cost table: {e}")))?;
    String::from_utf8(csv)
        .map_err(|e| SolverError::new_err(format!("internal error: the cost table: {e}")))
}

/// Runs the sweep file `path` into the CSV `out` (`jobs` worker threads, 0: one per core);
/// returns a dict of counts: runs, ran, already_done, errors, wall_s.
#[pyfunction]
#[pyo3(signature = (path, out, jobs = 0, shard = None, resume = false, overwrite = false, retry_errors = false, max_runs = None))]
#[allow(clippy::too_many_arguments)]
fn run_sweep_file<'py>(
    py: Python<'py>,
    path: PathBuf,
    out: PathBuf,
    jobs: usize,
    shard: Option<String>,
    resume: bool,
    overwrite: bool,
    retry_errors: bool,
    max_runs: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let summary = py
        .detach(move || -> edgeplan::Result<_> {
            if jobs > 0 {
                edgeplan::limits::count_option(
                    "jobs",
                    jobs as u64,
                    1,
                    edgeplan::limits::MAX_THREADS,
                )?;
            }
            let sweep = Sweep::load(&path)?;
            let shard = shard.as_deref().map(Shard::parse).transpose()?;
            let options = SweepOptions {
                output: out,
                threads: jobs,
                shard,
                resume,
                overwrite,
                retry_errors,
                max_runs,
            };
            run_sweep(&sweep, &options, &|_| {})
        })
        .map_err(py_error)?;
    let dict = PyDict::new(py);
    dict.set_item("runs", summary.runs)?;
    dict.set_item("ran", summary.ran)?;
    dict.set_item("already_done", summary.already_done)?;
    dict.set_item("errors", summary.errors)?;
    dict.set_item("wall_s", summary.wall_s)?;
    Ok(dict)
}

/// Merges run files and summarises `metrics` per group of the `by` columns (rows filtered by
/// `filters`, (column, value) pairs); returns the groups as `summarize --json` prints them,
/// and writes the merged rows to `merged` when given.
#[pyfunction]
#[pyo3(signature = (paths, by, metrics, filters, level, merged = None))]
fn summarize_files(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    by: Vec<String>,
    metrics: Vec<String>,
    filters: Vec<(String, String)>,
    level: f64,
    merged: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    if paths.is_empty() {
        return Err(py_error(edgeplan::Error::option(
            "runs",
            "expected at least one run file",
        )));
    }
    let json = py
        .detach(move || -> edgeplan::Result<_> {
            let runs = read_runs(&paths)?;
            let options = SummaryOptions {
                by,
                metrics,
                filters,
                level,
            };
            let groups = summarize_runs(&runs, &paths[0], &options)?;
            if let Some(path) = &merged {
                runs.write(path)?;
            }
            serde_json::to_string(&groups).map_err(|e| {
                edgeplan::Error::Internal(format!("the summary does not serialize: {e}"))
            })
        })
        .map_err(py_error)?;
    from_json(py, &json)
}

/// The built-in solver preset names.
#[pyfunction]
fn solver_presets() -> Vec<&'static str> {
    SolverPreset::builtin_names()
}

/// The registered problem names.
#[pyfunction]
fn problems() -> Vec<&'static str> {
    ProblemKind::ALL.iter().map(|k| k.name()).collect()
}

/// The native module.
#[pymodule]
fn _edgeplan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("EdgeplanError", py.get_type::<EdgeplanError>())?;
    m.add("BadInputError", py.get_type::<BadInputError>())?;
    m.add("InfeasibleError", py.get_type::<InfeasibleError>())?;
    m.add("SolverError", py.get_type::<SolverError>())?;
    for (class, code) in [
        (py.get_type::<BadInputError>(), 2),
        (py.get_type::<InfeasibleError>(), 1),
        (py.get_type::<SolverError>(), 3),
    ] {
        class.setattr("exit_code", code)?;
    }
    m.add_class::<Problem>()?;
    m.add_class::<SolveResult>()?;
    m.add_class::<Evaluation>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(from_dict, m)?)?;
    m.add_function(wrap_pyfunction!(solve, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(generate, m)?)?;
    m.add_function(wrap_pyfunction!(costs_csv, m)?)?;
    m.add_function(wrap_pyfunction!(run_sweep_file, m)?)?;
    m.add_function(wrap_pyfunction!(summarize_files, m)?)?;
    m.add_function(wrap_pyfunction!(solver_presets, m)?)?;
    m.add_function(wrap_pyfunction!(problems, m)?)?;
    Ok(())
}

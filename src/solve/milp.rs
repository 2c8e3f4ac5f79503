//! The HiGHS backend: a thin wrapper over `good_lp` that keeps the column of every variable, so
//! the solved `highs::Model` can be read directly (status, bound, gap, node count) rather than
//! through `good_lp`'s coarser result type.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use good_lp::solvers::highs::highs;
use good_lp::{
    Constraint, Expression, IntoAffineExpression, ProblemVariables, Solution, SolutionStatus,
    SolverModel, Variable, VariableDefinition,
};
use highs::{HighsModelStatus, HighsSolutionStatus};

use super::export::{self, Column, Model, Row, Sense};
use super::report::{relative_gap, PrimalStatus, Termination};
use super::watch;
use crate::error::{Error, Result};

/// HiGHS options of one solve.
#[derive(Debug, Clone)]
pub struct MipOptions {
    /// Wall-clock limit, s.
    pub time_limit_s: Option<f64>,
    /// Relative gap at which branch and bound stops.
    pub mip_rel_gap: f64,
    /// Absolute gap at which branch and bound stops.
    pub mip_abs_gap: f64,
    /// Threads.
    pub threads: u32,
    /// Random seed.
    pub seed: u64,
    /// Write the HiGHS log to this file.
    pub log_file: Option<PathBuf>,
    /// Write the model to this file before solving (`.lp` or `.mps`, by extension; see
    /// [`super::export`]).
    pub write_model: Option<PathBuf>,
    /// Comment lines that head the exported model: the problem, the instance, what the objective
    /// is (the writer adds the edgeplan version and the sense).
    pub model_header: Vec<String>,
    /// Solve an LP relaxation ([`Milp::maximise_relaxation`], [`Milp::minimise_relaxation`])
    /// with the interior-point method and crossover instead of the simplex method: much faster
    /// on large sparse relaxations (a 20-server cache MILP: under 50 s where dual simplex had
    /// not finished), and the crossover still returns a vertex.
    pub interior_point: bool,
    /// Further HiGHS options a formulation tunes for its own models (e.g.
    /// `("mip_heuristic_effort", "0.3")`), set after the others; a name or value HiGHS rejects
    /// is a solver error naming it.
    pub highs: Vec<(&'static str, HighsValue)>,
    /// The report's objective is the model's times this (1 unless the formulation scales its
    /// objective itself); progress lines ([`super::watch`]) and the exported model
    /// ([`Milp::write_model`]) are in the report's units.
    pub report_scale: f64,
    /// Stop as soon as an incumbent's objective is below this (in the model's units, of the
    /// objective as minimised): a bound the caller knows from elsewhere (a decomposition) and
    /// the gap it asks for, without a row that would tie the LP to it.
    pub objective_target: Option<f64>,
    /// Heads the progress lines when the model is not the problem's own MILP (e.g. one round
    /// of an outer approximation, whose incumbent and bound are the round's); empty otherwise.
    pub progress_label: &'static str,
}

/// The value of a HiGHS option in [`MipOptions::highs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HighsValue {
    /// A boolean option.
    Bool(bool),
    /// An integer option.
    Int(i32),
    /// A real option.
    Real(f64),
    /// A string option (`"on"`, `"off"`, `"choose"`, ...).
    Text(&'static str),
}

impl MipOptions {
    /// The options of `preset` (time limit, gaps, threads, seed), without log or export.
    pub fn from_preset(preset: &super::SolverPreset) -> MipOptions {
        MipOptions {
            time_limit_s: preset.time_limit_s,
            mip_rel_gap: preset.mip_rel_gap,
            mip_abs_gap: preset.mip_abs_gap,
            threads: preset.threads,
            seed: preset.seed,
            ..MipOptions::default()
        }
    }

    /// The options of `preset` with the HiGHS log and model export that `run` asks for.
    pub fn for_run(preset: &super::SolverPreset, run: &RunOptions) -> MipOptions {
        MipOptions {
            log_file: run.log_file.clone(),
            write_model: run.write_model.clone(),
            ..MipOptions::from_preset(preset)
        }
    }
}

/// Knobs of one solve that do not belong in a preset: where the HiGHS log and the exported model
/// go.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// HiGHS log file.
    pub log_file: Option<PathBuf>,
    /// Write the MILP (LP or MPS by extension) before solving.
    pub write_model: Option<PathBuf>,
}

impl Default for MipOptions {
    fn default() -> Self {
        MipOptions {
            time_limit_s: None,
            mip_rel_gap: 1e-9,
            mip_abs_gap: 1e-12,
            threads: 1,
            seed: 0,
            log_file: None,
            write_model: None,
            model_header: Vec::new(),
            interior_point: false,
            highs: Vec::new(),
            report_scale: 1.0,
            objective_target: None,
            progress_label: "",
        }
    }
}

/// The size of a MILP, as reports give it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MilpSize {
    /// Columns.
    pub variables: usize,
    /// Binary columns.
    pub binaries: usize,
    /// Rows.
    pub rows: usize,
}

impl MilpSize {
    /// `   MILP V variables (B binary), R rows`: the tail of a report's time line.
    pub fn text(&self) -> String {
        format!(
            "   MILP {} variables ({} binary), {} rows",
            self.variables, self.binaries, self.rows
        )
    }
}

/// A MILP under construction.
#[derive(Default)]
pub struct Milp {
    vars: ProblemVariables,
    cols: HashMap<Variable, usize>,
    constraints: Vec<Constraint>,
    start: Vec<(Variable, f64)>,
}

/// Variable values of a solved MILP.
#[derive(Debug, Clone)]
pub struct Values {
    cols: HashMap<Variable, usize>,
    x: Vec<f64>,
}

impl Solution for Values {
    fn status(&self) -> SolutionStatus {
        SolutionStatus::Optimal
    }

    fn value(&self, variable: Variable) -> f64 {
        self.cols.get(&variable).map_or(f64::NAN, |&c| self.x[c])
    }
}

impl Values {
    /// Whether a binary variable is set (rounded at 0.5).
    pub fn is_set(&self, variable: Variable) -> bool {
        self.value(variable) > 0.5
    }
}

/// Outcome of [`Milp::minimise`].
#[derive(Debug, Clone)]
pub struct MipResult {
    /// Why HiGHS stopped.
    pub termination: Termination,
    /// Whether an incumbent exists.
    pub primal_status: PrimalStatus,
    /// Objective of the incumbent (with the constant term).
    pub objective: Option<f64>,
    /// Best bound (with the constant term).
    pub bound: Option<f64>,
    /// Relative gap.
    pub gap: Option<f64>,
    /// Wall-clock time inside HiGHS, s.
    pub solve_s: f64,
    /// Branch-and-bound nodes.
    pub nodes: Option<i64>,
    /// The incumbent.
    pub values: Option<Values>,
}

impl Milp {
    /// An empty model.
    pub fn new() -> Milp {
        Milp::default()
    }

    /// Adds a variable.
    pub fn add(&mut self, def: VariableDefinition) -> Variable {
        let col = self.vars.len();
        let v = self.vars.add(def);
        self.cols.insert(v, col);
        v
    }

    /// Adds a constraint.
    pub fn constrain(&mut self, constraint: Constraint) {
        self.constraints.push(constraint);
    }

    /// Adds a constraint named `name` in exported models (e.g. `storage[server3]`; a variable
    /// is named by its definition: `variable().binary().name("x[server3,llama-2-7b]")`).
    pub fn constrain_named(&mut self, name: impl Into<String>, constraint: Constraint) {
        self.constraints.push(constraint.set_name(name.into()));
    }

    /// Gives HiGHS a starting point (a MIP start): values of some variables, typically the
    /// integer ones of a heuristic's plan; HiGHS completes the rest by solving an LP with them
    /// fixed and uses the result as its first incumbent if it is feasible.
    pub fn set_start(&mut self, values: Vec<(Variable, f64)>) {
        self.start = values;
    }

    /// Number of variables.
    pub fn num_vars(&self) -> usize {
        self.vars.len()
    }

    /// Number of integer (including binary) variables.
    pub fn num_integer_vars(&self) -> usize {
        self.vars
            .iter_variables_with_def()
            .filter(|(_, def)| def.is_integer())
            .count()
    }

    /// Number of constraints.
    pub fn num_constraints(&self) -> usize {
        self.constraints.len()
    }

    /// Columns, binary columns and rows.
    pub fn size(&self) -> MilpSize {
        MilpSize {
            variables: self.num_vars(),
            binaries: self.num_integer_vars(),
            rows: self.num_constraints(),
        }
    }

    /// Minimises `objective` with HiGHS.
    pub fn minimise(self, objective: Expression, options: &MipOptions) -> Result<MipResult> {
        self.write_model(&objective, Sense::Minimise, options)?;
        self.run(objective, options, false, 1.0)
    }

    /// Maximises `objective` with HiGHS; `objective` and `bound` of the result are in the
    /// maximisation sense (the bound is an upper bound).
    pub fn maximise(self, objective: Expression, options: &MipOptions) -> Result<MipResult> {
        self.write_model(&objective, Sense::Maximise, options)?;
        let mut result = self.run(-objective, options, false, -1.0)?;
        result.objective = result.objective.map(|o| -o);
        result.bound = result.bound.map(|b| -b);
        result.gap = match (result.objective, result.bound) {
            (Some(o), Some(b)) => Some(relative_gap(o, b)),
            _ => None,
        };
        Ok(result)
    }

    /// Maximises `objective` over the LP relaxation (see [`Milp::minimise_relaxation`]); the
    /// result is in the maximisation sense.
    pub fn maximise_relaxation(
        self,
        objective: Expression,
        options: &MipOptions,
    ) -> Result<MipResult> {
        let mut result = self.run(-objective, options, true, -1.0)?;
        result.objective = result.objective.map(|o| -o);
        result.bound = result.bound.map(|b| -b);
        Ok(result)
    }

    /// Minimises `objective` over the LP relaxation (integrality dropped, HiGHS option
    /// `solve_relaxation`), for root-bound statistics. The gap options do not apply; on an
    /// optimal LP, `objective` and `bound` are both the LP optimum, a lower bound of the MILP, and
    /// `values` is the fractional LP solution.
    pub fn minimise_relaxation(
        self,
        objective: Expression,
        options: &MipOptions,
    ) -> Result<MipResult> {
        self.run(objective, options, true, 1.0)
    }

    /// The model as it is exported: the objective `objective` in `sense`, unscaled and with its
    /// constant, every row as built (none rescaled or left out), the builders' names, the MIP
    /// start, and `header` below the edgeplan version.
    pub fn export_model(&self, objective: &Expression, sense: Sense, header: &[String]) -> Model {
        let terms = |e: &Expression| -> Vec<(usize, f64)> {
            e.linear_coefficients()
                .filter_map(|(v, c)| self.cols.get(&v).map(|&col| (col, c)))
                .collect()
        };
        let columns = self
            .vars
            .iter_variables_with_def()
            .map(|(_, def)| Column {
                name: def.get_name().to_string(),
                lower: def.get_min(),
                upper: def.get_max(),
                integer: def.is_integer(),
            })
            .collect();
        let rows = self
            .constraints
            .iter()
            .map(|c| Row {
                name: c.name().unwrap_or_default().to_string(),
                terms: terms(c.expression()),
                equality: c.is_equality(),
                rhs: -c.expression().constant(),
            })
            .collect();
        let mut lines = vec![format!(
            "written by edgeplan {} (solve --write-model)",
            env!("CARGO_PKG_VERSION")
        )];
        lines.extend(header.iter().cloned());
        Model {
            header: lines,
            sense,
            objective: terms(objective),
            constant: objective.constant(),
            columns,
            rows,
            start: self
                .start
                .iter()
                .filter_map(|(v, x)| self.cols.get(v).map(|&col| (col, *x)))
                .collect(),
        }
    }

    /// Writes the model with `objective` times `options.report_scale` (the report's objective)
    /// in `sense` to `options.write_model` when it is set ([`export::write`]); [`Milp::minimise`]
    /// and [`Milp::maximise`] call it, and a caller that exports another model than the one it
    /// solves calls it and clears `write_model`.
    pub fn write_model(
        &self,
        objective: &Expression,
        sense: Sense,
        options: &MipOptions,
    ) -> Result<()> {
        let Some(path) = &options.write_model else {
            return Ok(());
        };
        let reported = objective.clone() * options.report_scale;
        export::write(
            &self.export_model(&reported, sense, &options.model_header),
            path,
        )
    }

    /// Solves with HiGHS; `sign` is -1 when `objective` is the negation of a maximised one (for
    /// the progress lines, which show the report's objective).
    fn run(
        self,
        objective: Expression,
        options: &MipOptions,
        relax: bool,
        sign: f64,
    ) -> Result<MipResult> {
        let offset = objective.constant();
        let Milp {
            vars,
            cols,
            constraints,
            start,
        } = self;
        let (objective, scale) = scaled_objective(objective)?;
        let started = !start.is_empty() && !relax;
        // The objective HiGHS gets, by column: to check an answer from a start against its
        // solution (no copy without a start).
        let costs: Vec<(usize, f64)> = if started {
            objective
                .clone()
                .linear_coefficients()
                .filter_map(|(v, c)| cols.get(&v).map(|&j| (j, c)))
                .collect()
        } else {
            Vec::new()
        };
        let bounds: HashMap<Variable, (f64, f64)> = vars
            .iter_variables_with_def()
            .map(|(v, def)| (v, (def.get_min(), def.get_max())))
            .collect();
        let mut scaled = Vec::with_capacity(constraints.len());
        for (i, c) in constraints.into_iter().enumerate() {
            if let Some(c) = scaled_constraint(i, c, &bounds)? {
                scaled.push(c);
            }
        }
        let constraints = scaled;
        let problem = vars.minimise(objective).using(highs).with_all(constraints);
        let mut model = problem
            .try_into_inner()
            .map_err(|e| Error::Solver(format!("HiGHS rejected the model: {e}")))?;
        let scaled_options = MipOptions {
            mip_abs_gap: options.mip_abs_gap * scale,
            ..options.clone()
        };
        set_options(&mut model, &scaled_options, relax)?;
        if let Some(target) = options.objective_target.filter(|_| !relax) {
            model
                .try_set_option("objective_target", (target - offset) * scale)
                .map_err(|e| Error::Solver(format!("HiGHS rejected `objective_target`: {e:?}")))?;
        }
        if started {
            set_start(&mut model, &cols, &start)?;
        }
        let units = watch::Units {
            scale: scale / options.report_scale,
            offset: offset * options.report_scale,
            sign,
        };
        let _watch = watch::Watch::attach(&mut model, Some(units), relax, options.progress_label);

        let start = Instant::now();
        use_highs_threads(options.threads);
        let mut solved = model
            .try_solve()
            .map_err(|e| Error::Solver(format!("HiGHS failed: {e:?}")))?;
        if started && !start_kept(&solved, &costs) {
            // HiGHS 1.16 can take a MIP start at a wrong objective (a column presolve removed
            // left out of it) and end "optimal" with the start's values: its objective is not
            // that of its solution (docs/upstream-highs.md). Solve again without the start, in
            // what is left of the time limit.
            let mut model = highs::Model::from(solved);
            // SAFETY: the model pointer is valid for the lifetime of `model`; clearing the
            // solver's data drops the start and the previous answer, not the model or options.
            unsafe { highs_sys::Highs_clearSolver(model.as_mut_ptr()) };
            if let Some(limit) = options.time_limit_s {
                let left = (limit - start.elapsed().as_secs_f64()).max(0.01);
                model
                    .try_set_option("time_limit", left)
                    .map_err(|e| Error::Solver(format!("HiGHS rejected `time_limit`: {e:?}")))?;
            }
            use_highs_threads(options.threads);
            solved = model
                .try_solve()
                .map_err(|e| Error::Solver(format!("HiGHS failed: {e:?}")))?;
        }
        let solve_s = start.elapsed().as_secs_f64();

        let has_primal = solved.primal_solution_status() == HighsSolutionStatus::Feasible;
        let termination = termination(solved.status());
        let nodes = if relax { None } else { node_count(&solved) };
        let values = has_primal.then(|| Values {
            cols,
            x: solved.get_solution().columns().to_vec(),
        });
        let objective = has_primal.then(|| solved.objective_value() / scale + offset);
        let bound = if relax {
            // An optimal LP's objective is its bound; HiGHS sets no MIP dual bound for it.
            objective.filter(|_| termination == Termination::Optimal)
        } else {
            solved
                .double_info_value(c"mip_dual_bound")
                .ok()
                .filter(|b| b.is_finite())
                .map(|b| b / scale + offset)
        };
        let gap = match (objective, bound) {
            (Some(o), Some(b)) => Some(relative_gap(o, b)),
            _ => None,
        };
        Ok(MipResult {
            termination,
            primal_status: if has_primal {
                PrimalStatus::Feasible
            } else {
                PrimalStatus::NoPlan
            },
            objective,
            bound,
            gap,
            solve_s,
            nodes,
            values,
        })
    }
}

thread_local! {
    /// The `threads` option of the last HiGHS model run on this thread.
    static HIGHS_THREADS: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Call right before running a HiGHS model whose `threads` option is `threads`. HiGHS keeps one
/// task scheduler per thread, sized by the first model run on it, and refuses to run a later
/// model that asks for another count (`HiGHS failed: Error`; e.g. `--threads 2` on a cache or
/// green instance, whose polish and column generation run one-thread models between the
/// preset's). When the count changes, this thread's scheduler is shut down (blocking: no model
/// runs on this thread meanwhile) and the next run starts one of the right size.
pub fn use_highs_threads(threads: u32) {
    HIGHS_THREADS.with(|last| {
        if last.get().is_some_and(|t| t != threads) {
            // SAFETY: no HiGHS model is running on this thread (runs are synchronous); the
            // next run initialises a new scheduler.
            unsafe { highs_sys::Highs_resetGlobalScheduler(1) };
        }
        last.set(Some(threads));
    });
}

/// Whether HiGHS's answer holds together: without a primal solution, or when its reported
/// objective is that of its solution (`costs`: the objective it solved, by column) within
/// 1e-7 relative.
fn start_kept(solved: &highs::SolvedModel, costs: &[(usize, f64)]) -> bool {
    if solved.primal_solution_status() != HighsSolutionStatus::Feasible {
        return true;
    }
    let solution = solved.get_solution();
    let x = solution.columns();
    let own: f64 = costs.iter().map(|&(j, c)| c * x[j]).sum();
    let reported = solved.objective_value();
    (own - reported).abs() <= 1e-7 * own.abs().max(reported.abs()).max(1.0)
}

/// Sets HiGHS's options from `options`: gaps, threads, seed, time limit (s), log file, and for a
/// relaxation the LP-only solve (interior point when asked).
fn set_options(model: &mut highs::Model, options: &MipOptions, relax: bool) -> Result<()> {
    macro_rules! set {
        ($key:expr, $value:expr) => {
            model
                .try_set_option($key, $value)
                .map_err(|e| Error::Solver(format!("HiGHS rejected option `{}`: {e:?}", $key)))?
        };
    }
    model.make_quiet();
    set!("mip_rel_gap", options.mip_rel_gap);
    set!("mip_abs_gap", options.mip_abs_gap);
    set!("threads", options.threads as i32);
    set!("random_seed", (options.seed % (i32::MAX as u64)) as i32);
    if relax {
        set!("solve_relaxation", true);
        if options.interior_point {
            set!("solver", "ipm");
        }
    }
    // Stopped before this solve began (Ctrl-C during an earlier stage): no time for it.
    let limit = if watch::stop_requested() {
        Some(0.0)
    } else {
        options.time_limit_s
    };
    if let Some(t) = limit {
        set!("time_limit", t);
    }
    for &(key, value) in &options.highs {
        match value {
            HighsValue::Bool(b) => set!(key, b),
            HighsValue::Int(i) => set!(key, i),
            HighsValue::Real(r) => set!(key, r),
            HighsValue::Text(t) => set!(key, t),
        }
    }
    if let Some(log) = &options.log_file {
        let name = log.to_string_lossy().into_owned();
        set!("log_file", name.as_str());
        set!("output_flag", true);
        set!("log_to_console", false);
    }
    Ok(())
}

/// How a HiGHS model status ends the solve.
fn termination(status: HighsModelStatus) -> Termination {
    match status {
        HighsModelStatus::Optimal => Termination::Optimal,
        HighsModelStatus::Infeasible => Termination::Infeasible,
        HighsModelStatus::Unbounded => Termination::Unbounded,
        // Binary variables bound every MILP built here, so "unbounded or infeasible" means
        // infeasible.
        HighsModelStatus::UnboundedOrInfeasible => Termination::Infeasible,
        HighsModelStatus::ReachedTimeLimit
        | HighsModelStatus::ReachedIterationLimit
        | HighsModelStatus::ReachedSolutionLimit
        | HighsModelStatus::ReachedInterrupt
        | HighsModelStatus::ReachedMemoryLimit
        | HighsModelStatus::ObjectiveBound
        | HighsModelStatus::ObjectiveTarget => Termination::LimitReached,
        _ => Termination::NoSolutionFound,
    }
}

/// The version of the HiGHS library linked in (`1.11.0`).
pub fn highs_version() -> String {
    // SAFETY: HiGHS returns a pointer to a static NUL-terminated string.
    let version = unsafe { highs_sys::Highs_version() };
    if version.is_null() {
        return "unknown".into();
    }
    // SAFETY: non-null, NUL-terminated and static (checked above).
    unsafe { std::ffi::CStr::from_ptr(version) }
        .to_string_lossy()
        .into_owned()
}

/// Rejects a `--write-model` file whose extension is neither `.lp` nor `.mps` (the format is
/// picked from it), before anything is solved.
pub fn check_model_extension(path: &Path) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("lp" | "mps") => Ok(()),
        _ => Err(Error::option(
            "--write-model",
            format!(
                "{}: expected a file name ending in .lp or .mps",
                path.display()
            ),
        )),
    }
}

/// Smallest matrix entry HiGHS keeps (`small_matrix_value`: smaller entries are dropped). After
/// scaling every row's largest entry is at most 1, far below `large_matrix_value` (1e15).
const SMALL_MATRIX_VALUE: f64 = 1e-9;

/// A scaled right-hand side this large would be an infinite bound to HiGHS (`infinite_bound`,
/// 1e20); 1e15 keeps a margin for its own scaling.
const LARGE_BOUND: f64 = 1e15;

/// Coefficients up to this far from 1 (either way) are left as they are: HiGHS handles them
/// well, and a model of ordinary numbers reaches HiGHS exactly as it was built.
const UNSCALED_RANGE: f64 = (1u64 << 20) as f64;

/// The power of two `s` that brings `max` (a largest absolute coefficient, non-negative and
/// finite) into `(0.5, 1]` when multiplied by it; 1 when `max` is zero, or (`keep_near_one`)
/// within [`UNSCALED_RANGE`] of 1.
fn power_of_two_scale(max: f64, keep_near_one: bool) -> f64 {
    if max == 0.0 || (keep_near_one && (1.0 / UNSCALED_RANGE..=UNSCALED_RANGE).contains(&max)) {
        return 1.0;
    }
    // max <= 2^e with e the smallest such integer: scaling by 2^-e puts it in (0.5, 1].
    let e = max.log2().ceil() as i32;
    let scale = 2f64.powi(-e);
    if max * scale > 1.0 {
        scale / 2.0
    } else {
        scale
    }
}

/// The largest absolute coefficient of `expr`, or an internal error naming `what` when one (or
/// the constant) is not finite.
fn max_coefficient(expr: &Expression, what: &dyn Fn() -> String) -> Result<f64> {
    let mut max = 0.0f64;
    for (_, c) in expr.linear_coefficients() {
        if !c.is_finite() {
            return Err(Error::Internal(format!(
                "{} has a non-finite coefficient ({c}); please report this input",
                what()
            )));
        }
        max = max.max(c.abs());
    }
    if !expr.constant().is_finite() {
        return Err(Error::Internal(format!(
            "{} has a non-finite constant ({}); please report this input",
            what(),
            expr.constant()
        )));
    }
    Ok(max)
}

/// The objective without its constant (added back by the caller), multiplied by a power of two
/// so that its largest coefficient lies in `(0.5, 1]` (far below HiGHS's `infinite_cost`, 1e20,
/// and large against its absolute tolerances);
/// returns the scaled objective and the factor (divide HiGHS's objective and bound by it).
fn scaled_objective(objective: Expression) -> Result<(Expression, f64)> {
    let max = max_coefficient(&objective, &|| "the objective".to_string())?;
    // Always: HiGHS's optimality tolerances are absolute, so an objective whose coefficients are
    // all small (a latency in ms) would otherwise not tell plans apart that differ by 1e-5.
    let scale = power_of_two_scale(max, false);
    let mut scaled = Expression::with_capacity(0);
    for (v, c) in objective.linear_coefficients() {
        scaled.add_mul(c * scale, v);
    }
    Ok((scaled, scale))
}

/// Constraint `index` with its row multiplied by a power of two so that its largest coefficient
/// lies in `(0.5, 1]` when it is far from 1 (keeping its name and sense): no entry reaches HiGHS's
/// `large_matrix_value`. Entries below `small_matrix_value` after scaling are dropped by HiGHS;
/// when together they could move the row by more than HiGHS's feasibility tolerance the row
/// cannot be represented and the solve is refused.
///
/// A `<=` row that no values within the variables' `bounds` can violate (e.g. a memory limit of
/// 1 PB against a model of a few GB) is left out (`None`): its right-hand side could be too large
/// for HiGHS against its coefficients, and it says nothing.
fn scaled_constraint(
    index: usize,
    constraint: Constraint,
    bounds: &HashMap<Variable, (f64, f64)>,
) -> Result<Option<Constraint>> {
    let name = constraint.name().map(String::from);
    let what = || match &name {
        Some(n) => format!("constraint `{n}`"),
        None => format!("constraint {index}"),
    };
    let expr = constraint.expression();
    let max = max_coefficient(expr, &what)?;
    // The range of the row's left-hand side within the bounds, constant included.
    let (mut low, mut high) = (expr.constant(), expr.constant());
    for (v, c) in expr.linear_coefficients().filter(|&(_, c)| c != 0.0) {
        let (lo, hi) = bounds
            .get(&v)
            .copied()
            .unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
        let (a, b) = (c * lo, c * hi);
        low += a.min(b);
        high += a.max(b);
    }
    let slack = 1e-9 * expr.constant().abs().max(1.0);
    let holds_always = if constraint.is_equality() {
        max == 0.0 && expr.constant() == 0.0
    } else {
        high <= 0.0
    };
    if holds_always {
        return Ok(None);
    }
    let never_holds = if constraint.is_equality() {
        low > slack || high < -slack
    } else {
        low > slack
    };
    if never_holds {
        // The model is infeasible whatever the values: a well-scaled empty row that says so (HiGHS
        // reports the model infeasible), rather than coefficients it cannot represent.
        let row = good_lp::constraint::leq(Expression::from(0.0), -1.0);
        return Ok(Some(match name {
            Some(n) => row.set_name(n),
            None => row,
        }));
    }
    // Left as it is only when near 1 and HiGHS would drop none of its entries.
    let tiny = expr
        .linear_coefficients()
        .any(|(_, c)| c != 0.0 && c.abs() < SMALL_MATRIX_VALUE);
    let scale = power_of_two_scale(max, !tiny);
    let dropped: f64 = expr
        .linear_coefficients()
        .map(|(_, c)| (c * scale).abs())
        .filter(|&c| c > 0.0 && c < SMALL_MATRIX_VALUE)
        .sum();
    // What HiGHS drops moves the row by at most `dropped`: refused when that exceeds its MIP
    // feasibility tolerance (1e-6) relative to the row's scale.
    if dropped > 1e-6 * (expr.constant() * scale).abs().max(1.0) {
        return Err(Error::Solver(format!(
            "{} spans coefficients from below {:e} to {max:e}: HiGHS cannot represent that row",
            what(),
            max * SMALL_MATRIX_VALUE
        )));
    }
    let rhs = -expr.constant() * scale;
    if rhs.abs() >= LARGE_BOUND {
        return Err(Error::Solver(format!(
            "{} has a right-hand side of {:e} times its largest coefficient: HiGHS cannot \
             represent that row",
            what(),
            expr.constant().abs() / max.max(f64::MIN_POSITIVE)
        )));
    }
    if scale == 1.0 {
        return Ok(Some(constraint));
    }
    let mut lhs = Expression::with_capacity(0);
    for (v, c) in expr.linear_coefficients() {
        lhs.add_mul(c * scale, v);
    }
    let scaled = if constraint.is_equality() {
        good_lp::constraint::eq(lhs, rhs)
    } else {
        good_lp::constraint::leq(lhs, rhs)
    };
    Ok(Some(match name {
        Some(n) => scaled.set_name(n),
        None => scaled,
    }))
}

/// Passes a sparse MIP start to HiGHS.
fn set_start(
    model: &mut highs::Model,
    cols: &HashMap<Variable, usize>,
    start: &[(Variable, f64)],
) -> Result<()> {
    let mut index = Vec::with_capacity(start.len());
    let mut value = Vec::with_capacity(start.len());
    for (v, x) in start {
        if let Some(&c) = cols.get(v) {
            index.push(c as highs_sys::HighsInt);
            value.push(*x);
        }
    }
    // SAFETY: the model pointer is valid for the lifetime of `model`; `index` and `value` hold
    // `index.len()` entries each and outlive the call, and every index is a column of the model.
    let status = unsafe {
        highs_sys::Highs_setSparseSolution(
            model.as_mut_ptr(),
            index.len() as highs_sys::HighsInt,
            index.as_ptr(),
            value.as_ptr(),
        )
    };
    if status == highs_sys::STATUS_ERROR {
        return Err(Error::Solver("HiGHS rejected the MIP start".into()));
    }
    Ok(())
}

/// Branch-and-bound nodes of a solved MILP (HiGHS keeps the count as a 64-bit info value, which
/// the `highs` crate's `int_info_value` cannot read).
fn node_count(solved: &highs::SolvedModel) -> Option<i64> {
    let mut value: i64 = -1;
    // SAFETY: `solved` owns a live HiGHS instance; the name is a NUL-terminated C string and
    // `value` outlives the call.
    let status = unsafe {
        highs_sys::Highs_getInt64InfoValue(solved.as_ptr(), c"mip_node_count".as_ptr(), &mut value)
    };
    (status != highs_sys::STATUS_ERROR && value >= 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use good_lp::{constraint, variable};

    use super::*;

    /// HiGHS 1.16 takes this feasible start (x1 = 1, worth 0.715681) at objective 0 once
    /// presolve has removed x1, and ends "optimal" with the start's values
    /// (scripts/highs-mip-start-defect.py, docs/upstream-highs.md): the answer is checked and
    /// the model solved again without the start, to the optimum x0 = x2 = 1 (0.147776, by
    /// enumeration of the 16 points). Also as a maximisation, and with a partial start.
    #[test]
    fn a_start_taken_at_a_wrong_objective_is_dropped() {
        let cost = [
            0.07126005187860306,
            0.7156811059750718,
            0.0765159983377351,
            0.21518708916611148,
        ];
        let a = 0.9007503970003755;
        for (maximise, partial) in [(false, false), (false, true), (true, false)] {
            let mut m = Milp::new();
            let x: Vec<Variable> = (0..4).map(|_| m.add(variable().binary())).collect();
            m.constrain(constraint!(a * x[0] + x[1] + a * x[2] + x[3] >= 1.0));
            m.constrain(constraint!(x[2] + x[3] <= 1.0));
            let start: Vec<(Variable, f64)> = if partial {
                vec![(x[1], 1.0)]
            } else {
                (0..4)
                    .map(|j| (x[j], if j == 1 { 1.0 } else { 0.0 }))
                    .collect()
            };
            m.set_start(start);
            let objective: Expression = x.iter().zip(cost).map(|(&v, c)| c * v).sum();
            let r = if maximise {
                m.maximise(-objective, &MipOptions::default()).unwrap()
            } else {
                m.minimise(objective, &MipOptions::default()).unwrap()
            };
            let case = format!("maximise {maximise}, partial {partial}");
            assert_eq!(r.termination, Termination::Optimal, "{case}");
            let optimum = cost[0] + cost[2];
            let reported = r.objective.unwrap() * if maximise { -1.0 } else { 1.0 };
            assert!((reported - optimum).abs() < 1e-9, "{case}: {reported}");
            let values = r.values.unwrap();
            let on: Vec<bool> = x.iter().map(|&v| values.value(v) > 0.5).collect();
            assert_eq!(on, [true, false, true, false], "{case}");
        }
    }

    /// A row and an objective far beyond HiGHS's limits solve to the right answer.
    #[test]
    fn extreme_coefficients_are_scaled() {
        for k in [1e-30, 1e-9, 1.0, 1e12, 1e30] {
            let mut m = Milp::new();
            let x = m.add(variable().binary());
            let y = m.add(variable().binary());
            // At least one of the two, scaled by k; y is dearer.
            m.constrain(constraint!(k * x + k * y >= k));
            let r = m
                .minimise(k * x + 2.0 * k * y + 3.0, &MipOptions::default())
                .unwrap();
            assert_eq!(r.termination, Termination::Optimal, "k = {k}");
            let o = r.objective.unwrap();
            assert!((o - (k + 3.0)).abs() <= 1e-9 * (k + 3.0), "k = {k}: {o}");
            assert!(r.values.unwrap().is_set(x));
        }
    }

    /// A row no values can violate is left out however large its right-hand side; a row no
    /// values can meet (tiny coefficients against a right-hand side of 1) makes the model
    /// infeasible instead of reaching HiGHS unrepresentable.
    #[test]
    fn redundant_and_impossible_rows() {
        let mut m = Milp::new();
        let x = m.add(variable().binary());
        let y = m.add(variable().binary());
        m.constrain(constraint!(1e-6 * x + 1e-6 * y <= 1e15));
        m.constrain(constraint!(x + y >= 1));
        let r = m.minimise(x + 2.0 * y, &MipOptions::default()).unwrap();
        assert_eq!(r.termination, Termination::Optimal);
        assert_eq!(r.objective, Some(1.0));
        let mut m = Milp::new();
        let x = m.add(variable().binary());
        let y = m.add(variable().binary());
        m.constrain(constraint!(4e-312 * x + 1e-19 * y >= 1));
        let r = m.minimise(x + 2.0 * y, &MipOptions::default()).unwrap();
        assert_eq!(r.termination, Termination::Infeasible);
    }

    #[test]
    fn non_finite_coefficients_are_internal_errors() {
        let mut m = Milp::new();
        let x = m.add(variable().binary());
        m.constrain(constraint!(f64::INFINITY * x <= 1).set_name("cap".into()));
        let err = m
            .minimise(Expression::from(x), &MipOptions::default())
            .unwrap_err();
        assert!(!err.is_bad_input());
        assert!(err.to_string().contains("constraint `cap`"), "{err}");
        let mut m = Milp::new();
        let x = m.add(variable().binary());
        let err = m
            .minimise(f64::NAN * x, &MipOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("objective"), "{err}");
    }

    /// HiGHS's optimum of a model file it reads back (`None` unless optimal).
    fn highs_reads(path: &Path) -> Option<f64> {
        let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a fresh HiGHS instance, used and destroyed here; the strings outlive the calls.
        unsafe {
            let highs = highs_sys::Highs_create();
            highs_sys::Highs_setBoolOptionValue(highs, c"output_flag".as_ptr(), 0);
            let read = highs_sys::Highs_readModel(highs, name.as_ptr());
            let run = highs_sys::Highs_run(highs);
            let optimal = highs_sys::Highs_getModelStatus(highs) == highs_sys::MODEL_STATUS_OPTIMAL;
            let value = highs_sys::Highs_getObjectiveValue(highs);
            highs_sys::Highs_destroy(highs);
            (read == highs_sys::STATUS_OK && run == highs_sys::STATUS_OK && optimal)
                .then_some(value)
        }
    }

    /// A small MILP with every kind of column (binary, bounded general integer, free,
    /// fixed), names that need sanitising, a constant and a maximised objective: its LP and MPS
    /// files read back into HiGHS have the optimum edgeplan reports. By hand: `f = 4.5 - n - b`
    /// at the optimum (its coefficient is 1), so the objective is `2 b + n + 14.5`, largest at
    /// `b = 1`, `n = 5` (`n <= 3.5 + 2 b`, integer): 21.5.
    #[test]
    fn exported_files_read_back_into_highs_with_the_reported_optimum() {
        let build = || {
            let mut m = Milp::new();
            let b = m.add(variable().binary().name("use[llama-2-7b]"));
            let n = m.add(variable().integer().min(-2).max(9).name("e-count[1]"));
            let f = m.add(variable().name("2free"));
            let one = m.add(variable().min(1).max(1).name("fixed"));
            m.constrain_named("cap[server 3]", constraint!(n <= 3.5 + 2 * b));
            m.constrain_named("cap[server 3]", constraint!(f + n + b <= 4.5 * one));
            m.constrain(constraint!(f >= -40));
            m.set_start(vec![(b, 1.0), (n, 3.0)]);
            (m, 3 * b + 2 * n + f + 10)
        };
        let dir = tempfile::tempdir().unwrap();
        for ext in ["lp", "mps"] {
            let path = dir.path().join(format!("m.{ext}"));
            let options = MipOptions {
                write_model: Some(path.clone()),
                model_header: vec!["a test model".into()],
                ..MipOptions::default()
            };
            let (m, objective) = build();
            let reported = m.maximise(objective, &options).unwrap();
            assert_eq!(reported.objective, Some(21.5));
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(highs_reads(&path), Some(21.5), "{text}");
            for name in [
                "cap(server_3)",
                "cap(server_3)_2",
                "use(llama_2_7b)",
                "_2free",
            ] {
                assert!(text.contains(name), "{name} missing from\n{text}");
            }
            let start = std::fs::read_to_string(dir.path().join("m.start.sol")).unwrap();
            assert!(
                start.contains("0 use(llama_2_7b) 1\n1 _e_count(1) 3\n"),
                "{start}"
            );
        }
    }

    #[test]
    fn model_files_need_a_known_extension_and_a_writable_path() {
        let options = |path: &str| MipOptions {
            write_model: Some(PathBuf::from(path)),
            ..MipOptions::default()
        };
        let solve = |path: &str| {
            let mut m = Milp::new();
            let x = m.add(variable().binary());
            m.minimise(Expression::from(x), &options(path))
        };
        let err = solve("model.txt").unwrap_err();
        assert!(matches!(err, Error::Option { .. }), "{err}");
        let err = solve("/nonexistent-dir/model.lp").unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(
            err.to_string().contains("/nonexistent-dir/model.lp"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.mps");
        solve(path.to_str().unwrap()).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
    }
}

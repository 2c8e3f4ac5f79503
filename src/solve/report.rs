//! Report types shared by every problem.

use serde::{Deserialize, Serialize};

/// Why a solve stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// Proven optimal (within the requested gap for a MILP; exactly for an exhaustive search).
    Optimal,
    /// A time, iteration or node limit stopped the search; a plan exists if the primal status
    /// says so.
    LimitReached,
    /// Proven infeasible.
    Infeasible,
    /// Proven unbounded.
    Unbounded,
    /// Stopped without a plan and without a proof (solver error or limit before any incumbent).
    NoSolutionFound,
    /// A heuristic or baseline finished; it makes no optimality claim.
    HeuristicDone,
}

impl Termination {
    /// Lower-case name used in text and CSV output.
    pub fn name(self) -> &'static str {
        match self {
            Termination::Optimal => "optimal",
            Termination::LimitReached => "limit_reached",
            Termination::Infeasible => "infeasible",
            Termination::Unbounded => "unbounded",
            Termination::NoSolutionFound => "no_solution_found",
            Termination::HeuristicDone => "heuristic_done",
        }
    }
}

impl std::fmt::Display for Termination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the solve returned a plan and whether that plan satisfies every constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimalStatus {
    /// A plan that satisfies every constraint.
    Feasible,
    /// A plan was produced (e.g. by a baseline) but it violates constraints.
    Infeasible,
    /// No plan.
    NoPlan,
}

impl PrimalStatus {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            PrimalStatus::Feasible => "feasible",
            PrimalStatus::Infeasible => "infeasible",
            PrimalStatus::NoPlan => "no_plan",
        }
    }
}

impl std::fmt::Display for PrimalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Branch-and-bound nodes of several solves added up (`None` while no solve reported any).
pub fn add_nodes(total: Option<i64>, more: Option<i64>) -> Option<i64> {
    match (total, more) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// Solver-independent statistics of one solve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolveStats {
    /// Preset name.
    pub solver: String,
    /// Why it stopped.
    pub termination: Termination,
    /// Whether a (feasible) plan exists.
    pub primal_status: PrimalStatus,
    /// Objective of the returned plan.
    pub objective: Option<f64>,
    /// Best proven lower bound (minimisation) or upper bound (maximisation).
    pub bound: Option<f64>,
    /// Relative gap `|objective - bound| / max(|objective|, 1e-12)`.
    pub gap: Option<f64>,
    /// Model build time, s.
    pub build_s: f64,
    /// Solve time, s.
    pub solve_s: f64,
    /// Branch-and-bound nodes, for MILP solves.
    pub nodes: Option<i64>,
}

impl SolveStats {
    /// True when the solve returned a plan that meets every constraint.
    pub fn feasible(&self) -> bool {
        self.primal_status == PrimalStatus::Feasible
    }

    /// Statistics of a heuristic run that produced a plan (`heuristic_done`, `feasible` until the
    /// evaluator says otherwise, no bound).
    pub fn heuristic(solver: &str, build_s: f64, solve_s: f64) -> SolveStats {
        SolveStats {
            solver: solver.to_string(),
            termination: Termination::HeuristicDone,
            primal_status: PrimalStatus::Feasible,
            objective: None,
            bound: None,
            gap: None,
            build_s,
            solve_s,
            nodes: None,
        }
    }

    /// Records the returned plan: its evaluated objective and whether it meets every
    /// constraint (`None`: no plan), and the gap to the bound. A heuristic that returned no plan
    /// ends `no_solution_found`.
    pub fn record_plan(&mut self, plan: Option<(f64, bool)>) {
        match plan {
            Some((objective, feasible)) => {
                self.objective = Some(objective);
                self.primal_status = if feasible {
                    PrimalStatus::Feasible
                } else {
                    PrimalStatus::Infeasible
                };
                if let Some(b) = self.bound {
                    self.gap = Some(relative_gap(objective, b));
                }
            }
            None => {
                self.primal_status = PrimalStatus::NoPlan;
                if self.termination == Termination::HeuristicDone {
                    self.termination = Termination::NoSolutionFound;
                }
            }
        }
    }
}

/// Relative gap between an objective and a bound, as HiGHS defines it.
pub fn relative_gap(objective: f64, bound: f64) -> f64 {
    if objective == bound {
        0.0
    } else {
        (objective - bound).abs() / objective.abs().max(1e-12)
    }
}

/// The result of solving an instance of any problem: the statistics, the plan and its
/// independent evaluation, and why no plan is feasible when none is. `Details` holds what one
/// problem adds (MILP size, rounds, demand statistics), flattened into the JSON next to the
/// common members.
#[derive(Debug, Clone, Serialize)]
pub struct Report<Plan, Evaluation, Details = ()> {
    /// Instance name.
    pub instance: String,
    /// Status, objective, bound, gap and times.
    pub stats: SolveStats,
    /// What the problem adds to every report.
    #[serde(flatten)]
    pub details: Details,
    /// The plan, if any.
    pub plan: Option<Plan>,
    /// The independent evaluation of the plan.
    pub evaluation: Option<Evaluation>,
    /// Why the instance is infeasible (or which users no plan can serve), in its own terms;
    /// empty otherwise.
    pub explanation: Vec<String>,
}

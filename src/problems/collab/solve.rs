//! The collaboration solvers: the exact MILP (HiGHS), brute force, the greedy and the
//! baselines, behind one `solve` entry point.

use serde::Serialize;

use crate::error::Result;
use crate::solve::milp::MilpSize;
use crate::solve::{Report, RunOptions, SolverPreset};

use super::evaluate::Evaluation;
use super::{CollabPlan, CollabProblem};

/// The solvers the problem understands.
pub const SOLVERS: [&str; 6] = [
    "highs",
    "enumerate",
    "greedy",
    "all-device",
    "all-edge",
    "cascade-fixed",
];

/// What a collaboration report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct CollabDetails {
    /// The objective's name.
    pub objective_kind: &'static str,
    /// Users.
    pub users: usize,
    /// Variants.
    pub variants: usize,
    /// Modes allowed.
    pub modes: Vec<&'static str>,
    /// Modes priced per user.
    pub candidates: usize,
    /// Options kept after removing infeasible and dominated ones, over all users.
    pub options: usize,
    /// MILP size, when the MILP ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milp: Option<MilpSize>,
}

/// The result of solving a collaboration instance.
pub type CollabReport = Report<CollabPlan, Evaluation, CollabDetails>;

/// Solves with a preset.
pub fn solve(
    problem: &CollabProblem,
    preset: &SolverPreset,
    run: &RunOptions,
) -> Result<CollabReport> {
    let _ = (problem, preset, run);
    unimplemented!("solvers")
}

//! The pipeline MILP (HiGHS).

use std::time::Instant;

use super::search::Scorer;
use super::solve::MilpSize;
use super::PipelinePlan;
use crate::error::{Error, Result};
use crate::solve::milp::RunOptions;
use crate::solve::report::SolveStats;
use crate::solve::SolverPreset;

/// What a `highs` run returns.
#[derive(Debug, Clone)]
pub struct HighsOutcome {
    /// Statistics.
    pub stats: SolveStats,
    /// The plan, if one was found.
    pub plan: Option<PipelinePlan>,
    /// The MILP's size.
    pub size: Option<MilpSize>,
}

/// Solves the instance of `scorer` with the MILP.
pub fn solve_highs(
    _scorer: &Scorer<'_>,
    _preset: &SolverPreset,
    _run: &RunOptions,
    _start: Instant,
) -> Result<HighsOutcome> {
    Err(Error::Internal("pipeline MILP: not built yet".into()))
}

//! Solving and reporting: the two-axis status of a solve and the generic report, the HiGHS
//! backend on top of `good_lp` and its model export, the solver presets of `solvers/`, and the violations and
//! tolerance every evaluator shares.

pub mod export;
pub mod format;
pub mod milp;
pub mod preset;
pub mod report;
pub mod violation;
pub mod watch;

pub use milp::{Milp, MilpSize, MipOptions, MipResult, RunOptions, Values};
pub use preset::SolverPreset;
pub use report::{PrimalStatus, Report, SolveStats, Termination};

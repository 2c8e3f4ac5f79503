//! Solving and reporting (DESIGN.md section 3): the two-axis status of a solve, the HiGHS backend
//! on top of `good_lp`, and the solver presets of `solvers/`.

pub mod milp;
pub mod preset;
pub mod report;

pub use milp::{Milp, MipOptions, MipResult, Values};
pub use preset::SolverPreset;
pub use report::{PrimalStatus, SolveStats, Termination};

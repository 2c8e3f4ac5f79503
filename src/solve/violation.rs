//! Violated constraints and the tolerance every evaluator compares limits with.

use serde::Serialize;

/// Relative tolerance when comparing a quantity against its limit.
pub const TOLERANCE: f64 = 1e-6;

/// Whether `value <= limit` up to [`TOLERANCE`].
pub fn within(value: f64, limit: f64) -> bool {
    value <= limit + TOLERANCE * limit.abs().max(1e-9)
}

/// A violated constraint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Machine-readable constraint name, e.g. `memory.device`, `deadline`, `pin`.
    pub constraint: String,
    /// What is wrong, in the instance's terms.
    pub message: String,
}

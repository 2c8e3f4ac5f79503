//! Cut-layer selection for split inference and split fine-tuning (docs/split.md).
//!
//! One user's model is cut into contiguous tiers device | edge | cloud. The cost engine (tiers,
//! links, workload, per-layer pricing and the pass-by-pass evaluator) is the shared [`crate::chain`]
//! module, re-exported here; this module holds the formulation on top of it.
//!
//! Solvers: [`model`] (the MILP, HiGHS), [`heuristics`] (exhaustive enumeration of all cut pairs,
//! exact; the all-device, all-edge and all-cloud baselines), [`evaluate`] (the independent check).

pub mod generate;
pub mod heuristics;
pub mod model;
pub mod render;
pub mod solve;

pub use crate::chain::evaluate;
pub use crate::chain::{
    tier_at, Coefficients, Crossing, Link, Objective, Rules, SplitPlan, SplitProblem, Tier,
    TierResource, Training, Workload,
};

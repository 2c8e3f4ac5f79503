//! One module per problem. Each has a MILP builder (`model`), heuristics and an independent
//! evaluator.

pub mod alloc;
pub mod cache;
pub mod collab;
pub mod green;
pub mod moe;
pub mod pipeline;
pub mod split;

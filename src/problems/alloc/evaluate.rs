//! The independent evaluator of allocation plans.

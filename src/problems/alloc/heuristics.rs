//! Closed-form resource allocation for fixed cuts, local search over cuts, and baselines.

//! The exact allocation MILP.

//! edgeplan: plans large-language-model deployment at the mobile edge.

pub mod costs;
pub mod error;
pub mod instance;
pub mod problems;
pub mod solve;

pub use error::{Error, Result};

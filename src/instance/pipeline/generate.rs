//! Seeded pipeline instances: random edge networks of N nodes drawn from the device catalog.

use std::path::Path;

use crate::costs::device::DeviceCatalog;
use crate::error::{Error, Result};
use crate::problems::pipeline::PipelineProblem;

/// Parameters of [`generate`]. As a table (a sweep's `[fixed]` and `[grid]`), fields left out
/// take their [`Default`] value.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenParams {
    /// Nodes N.
    pub nodes: usize,
    /// Seed of every draw.
    pub seed: u64,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams { nodes: 8, seed: 0 }
    }
}

impl GenParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// A seeded instance.
pub fn generate(
    _params: &GenParams,
    _catalog: &DeviceCatalog,
    _models_dir: &Path,
) -> Result<PipelineProblem> {
    Err(Error::Internal("pipeline generator: not built yet".into()))
}

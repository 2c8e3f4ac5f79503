//! A re-implementation of EdgeShard's dynamic program (baseline).

use super::search::Scorer;
use super::Stage;

/// EdgeShard's plan.
pub fn plan(_scorer: &Scorer<'_>) -> Option<Vec<Stage>> {
    None
}

//! The registered formulations: the one place that lists the problems edgeplan knows and maps
//! a problem's name to its [`Formulation`](crate::formulation::Formulation). The command line,
//! the sweep runner and the conformance suite go through [`ProblemKind`]; a new formulation is
//! one line of the `registry!` call below.

use std::path::Path;

use crate::error::{Error, Result};
use crate::formulation::{AnyFormulation, Registered};

/// Declares [`ProblemKind`] with one variant per formulation and the table that maps each to
/// its [`AnyFormulation`].
macro_rules! registry {
    ($($(#[$doc:meta])* $kind:ident => $formulation:ty,)+) => {
        /// A registered problem.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProblemKind {
            $($(#[$doc])* $kind,)+
        }

        impl ProblemKind {
            /// Every registered problem, in registry order.
            pub const ALL: &'static [ProblemKind] = &[$(ProblemKind::$kind,)+];

            /// The problem's formulation.
            pub fn formulation(self) -> &'static dyn AnyFormulation {
                match self {
                    $(ProblemKind::$kind => {
                        static FORMULATION: Registered<$formulation> = Registered::new();
                        &FORMULATION
                    })+
                }
            }
        }
    };
}

registry! {
    /// Cut-layer selection for split inference and fine-tuning.
    Split => crate::instance::split::Split,
    /// Many users sharing edge servers: cuts, resource blocks and compute.
    Alloc => crate::instance::alloc::Alloc,
    /// Parameter-sharing cache placement.
    Cache => crate::instance::cache::Cache,
    /// Energy-aware scheduling.
    Green => crate::instance::green::Green,
    /// In-network model splitting: a model pipelined across a network of nodes.
    Pipeline => crate::instance::pipeline::Pipeline,
    /// Mixture-of-experts at the edge: expert placement and on-device expert caches.
    Moe => crate::instance::moe::Moe,
    /// Small/large model collaboration: device, edge, cascade, speculative or split per user.
    Collab => crate::instance::collab::Collab,
}

impl ProblemKind {
    /// The name used in instance files and sweeps (`split`).
    pub fn name(self) -> &'static str {
        self.formulation().name()
    }

    /// The solvers it understands ([`Formulation::SOLVERS`](crate::formulation::Formulation)).
    pub fn solvers(self) -> &'static [&'static str] {
        self.formulation().solvers()
    }

    /// The problem called `name`, if one is registered.
    pub fn parse(name: &str) -> Option<ProblemKind> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The registered names, comma-separated (for error messages).
    pub fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
        names.join(", ")
    }

    /// The problem of the instance file `path` (its `problem` field).
    pub fn of_instance(path: &Path) -> Result<ProblemKind> {
        let name = crate::instance::problem_kind(path)?;
        Self::parse(&name).ok_or_else(|| {
            Error::field(
                path,
                "problem",
                format!("unknown problem \"{name}\"; supported: {}", Self::names()),
            )
        })
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

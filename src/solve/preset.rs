//! Solver presets: small TOML files in `solvers/`, picked with `--solver NAME` (a built-in preset,
//! see [`SolverPreset::builtin_names`]) or `--solver path/to/preset.toml`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::read_structured;
use crate::limits;

/// A solver preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverPreset {
    /// Name shown in reports and sweep CSVs.
    pub name: String,
    /// `highs` (the exact MILP) or the name of a heuristic of the problem (e.g. `enumerate`,
    /// `all-device`).
    pub solver: String,
    /// One line on what the preset is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Wall-clock limit, s; a MILP stopped by it returns its incumbent.
    #[serde(default)]
    pub time_limit_s: Option<f64>,
    /// HiGHS `mip_rel_gap`.
    #[serde(default = "default_rel_gap")]
    pub mip_rel_gap: f64,
    /// HiGHS `mip_abs_gap`.
    #[serde(default = "default_abs_gap")]
    pub mip_abs_gap: f64,
    /// HiGHS threads (1 in sweeps; parallelism is across runs).
    #[serde(default = "default_threads")]
    pub threads: u32,
    /// Random seed for HiGHS and randomised heuristics.
    #[serde(default)]
    pub seed: u64,
}

fn default_rel_gap() -> f64 {
    1e-9
}
fn default_abs_gap() -> f64 {
    1e-12
}
fn default_threads() -> u32 {
    1
}

/// The presets shipped in `solvers/`, compiled into the binary so that `--solver NAME` works from
/// any directory.
const BUILTIN: [(&str, &str); 18] = [
    ("highs", include_str!("../../solvers/highs.toml")),
    ("highs-1pct", include_str!("../../solvers/highs-1pct.toml")),
    ("enumerate", include_str!("../../solvers/enumerate.toml")),
    ("all-device", include_str!("../../solvers/all-device.toml")),
    ("all-edge", include_str!("../../solvers/all-edge.toml")),
    ("all-cloud", include_str!("../../solvers/all-cloud.toml")),
    (
        "local-search",
        include_str!("../../solvers/local-search.toml"),
    ),
    (
        "equal-split",
        include_str!("../../solvers/equal-split.toml"),
    ),
    ("fixed-cut", include_str!("../../solvers/fixed-cut.toml")),
    ("greedy", include_str!("../../solvers/greedy.toml")),
    (
        "independent",
        include_str!("../../solvers/independent.toml"),
    ),
    ("popularity", include_str!("../../solvers/popularity.toml")),
    ("random", include_str!("../../solvers/random.toml")),
    ("asap", include_str!("../../solvers/asap.toml")),
    ("edgeshard", include_str!("../../solvers/edgeshard.toml")),
    (
        "round-robin",
        include_str!("../../solvers/round-robin.toml"),
    ),
    ("layer-wise", include_str!("../../solvers/layer-wise.toml")),
    (
        "cascade-fixed",
        include_str!("../../solvers/cascade-fixed.toml"),
    ),
];

impl Default for SolverPreset {
    fn default() -> Self {
        SolverPreset::builtin("highs").expect("the highs preset is built in")
    }
}

impl SolverPreset {
    /// Names of the built-in presets.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in preset by name.
    pub fn builtin(name: &str) -> Option<SolverPreset> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        toml::from_str(text).ok()
    }

    /// A preset by built-in name, or from a TOML file when `spec` names an existing file or ends
    /// in `.toml`.
    pub fn resolve(spec: &str) -> Result<SolverPreset> {
        let path = Path::new(spec);
        if spec.ends_with(".toml") || path.is_file() {
            let preset: SolverPreset = read_structured(path)?;
            preset.validate(path)?;
            return Ok(preset);
        }
        SolverPreset::builtin(spec).ok_or_else(|| Error::Unknown {
            what: "solver preset",
            name: spec.to_string(),
            hint: format!(
                "built-in presets are {}; or give the path of a preset TOML file",
                SolverPreset::builtin_names().join(", ")
            ),
        })
    }

    /// Checks ranges ([`crate::limits`]): a time limit in `TIME_LIMIT_S`, gaps in `MIP_GAP`
    /// and `MIP_ABS_GAP`, 1 to `MAX_THREADS` threads; errors name the field of the preset file
    /// `path`.
    pub fn validate(&self, path: &Path) -> Result<()> {
        limits::TIME_LIMIT_S.check_opt(path, "time_limit_s", self.time_limit_s)?;
        limits::MIP_GAP.check(path, "mip_rel_gap", self.mip_rel_gap)?;
        limits::MIP_ABS_GAP.check(path, "mip_abs_gap", self.mip_abs_gap)?;
        limits::count(path, "threads", self.threads.into(), 1, limits::MAX_THREADS)?;
        Ok(())
    }

    /// Applies the command-line overrides of a solve (`--time-limit`, `--gap`, `--threads`),
    /// each checked against its range with an error naming the flag.
    pub fn override_with(
        &mut self,
        time_limit_s: Option<f64>,
        gap: Option<f64>,
        threads: Option<u32>,
    ) -> Result<()> {
        if let Some(t) = time_limit_s {
            self.time_limit_s = Some(limits::TIME_LIMIT_S.check_option("--time-limit", t)?);
        }
        if let Some(g) = gap {
            self.mip_rel_gap = limits::MIP_GAP.check_option("--gap", g)?;
        }
        if let Some(t) = threads {
            limits::count_option("--threads", t.into(), 1, limits::MAX_THREADS)?;
            self.threads = t;
        }
        Ok(())
    }

    /// Whether the preset runs the HiGHS MILP.
    pub fn is_milp(&self) -> bool {
        self.solver == "highs"
    }
}

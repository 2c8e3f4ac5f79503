//! Schema of a small/large model collaboration instance and its validation.
//!
//! ```toml
//! problem = "collab"
//! name = "campus-8-users"
//! models_dir = "../models"              # default ../models
//! devices = "../devices.csv"            # default ../devices.csv
//! quality = "quality.csv"               # default: quality.csv next to this file, else
//!                                       # collab/quality.csv beside the device catalog
//! acceptance = "acceptance.csv"         # optional, found the same way (absent: none)
//! benchmark = "mmlu-5shot"              # the rows of the quality file used (default mmlu-5shot)
//! objective = "quality"                 # quality (default) | served
//! modes = ["device", "edge", "cascade", "speculative"]   # the default; "split" optional
//! draft_lengths = [1, 2, 3, 4, 5, 6, 7, 8]               # the default (1..=64 each)
//! escalations = [0.1, 0.2, 0.3, 0.4, 0.5]                # the default ([0, 1] each)
//! router_sharpness = 2.0                # gamma in [1, 100] (default 2)
//! baseline_escalation = 0.3             # the cascade-fixed baseline's p (default 0.3)
//! token_bytes = 4                       # bytes of a token id on the radio (default 4)
//! draft_token_bytes = 4                 # bytes sent up per draft token (default token_bytes)
//!
//! [monte_carlo]
//! requests = 2000                       # simulated requests per user (default 2000)
//! seed = 1                              # default 1
//!
//! [[variants]]
//! model = "llama-3.2-1b"                # a dense config in models_dir or a .toml config path
//! dtype = "q4"                          # default fp16
//! # name = "small"                      # default <model>-<dtype>
//! # quality = 30.4                      # percent, overrides the quality file
//! # quality_source = "..."              # with quality
//! # tokenizer = "llama3"                # overrides the config's tokenizer family
//!
//! [[acceptance_rates]]                  # optional: overrides the file and the default rule
//! draft = "llama-3.2-1b-q4"             # variant names
//! target = "llama-3-8b-fp16"
//! rate = 0.8                            # [0, 1]
//! source = "measured on ..."            # optional
//!
//! [edge]
//! name = "edge"                         # default edge
//! device = "a100-80gb-sxm"              # a row of devices.csv
//! memory_bytes = 60e9                   # default the device's memory
//! resource_blocks = 100
//! rb_bandwidth_hz = 180e3
//! rtt_s = 0.01
//! max_utilisation = 0.8                 # (0, 0.99] (default 0.8)
//!
//! [[users]]
//! name = "u0"                           # default u<index>
//! device = "phone-sd8gen3"
//! memory_bytes = 4e9                    # default the device's memory
//! prompt_tokens = 256
//! output_tokens = 64
//! rate_per_s = 0.05                     # requests per second
//! deadline_s = 4.0
//! energy_limit_j = 20.0                 # optional
//! quality_target = 55.0                 # optional, percent (the served objective)
//! weight = 1.0                          # default 1
//! snr_db = 12.0                         # uplink SNR per resource block
//! downlink_snr_db = 15.0                # default snr_db
//! tx_power_w = 0.2                      # default the device's tx_power_w, else 0.2 W
//! rx_power_w = 0.1                      # default 0.1 W
//! ```
//!
//! **Acceptance rates** of a draft `d` for a target `t` (`d != t`): an `[[acceptance_rates]]`
//! entry, else a row of the acceptance file for the two (model, dtype) pairs, else the default
//! rule [`default_acceptance`] when `d` and `t` share the tokenizer family and `d` has fewer
//! parameters; otherwise the pair cannot speculate. Rates from the instance or the file need a
//! shared tokenizer family too. A variant's family is its `tokenizer`, else its config's
//! `tokenizer`, else its model name (it pairs with no other model).
//!
//! Errors name the field with the index of its table, e.g. `users[3].deadline_s`.

mod formulation;
pub mod generate;

pub use formulation::Collab;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::costs::arch::{Dtype, ModelConfig};
use crate::costs::table::CsvFile;
use crate::error::{Error, Result};
use crate::instance::common::{
    at_field, bounded_int, instance_file, instance_name, parse_dtype, runtime_devices, unique,
    with_sources, Sources,
};
use crate::instance::{read_structured, resolve};
use crate::limits;
use crate::problems::collab::{
    default_acceptance, CollabProblem, CollabUser, EdgeServer, ModeKind, Objective, Variant,
};

instance_file! {
    /// The collab instance file as written.
    pub struct CollabInstanceFile ["collab", no_profiles] {
        /// Quality CSV (default: `quality.csv` next to the file, else `collab/quality.csv`
        /// beside the device catalog).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub quality: Option<String>,
        /// Acceptance-rate CSV (default: `acceptance.csv` found as the quality file is, if any).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub acceptance: Option<String>,
        /// The benchmark whose rows of the quality file are used (default `mmlu-5shot`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub benchmark: Option<String>,
        /// `quality` (default) or `served`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub objective: Option<String>,
        /// Modes allowed (default device, edge, cascade, speculative).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub modes: Option<Vec<String>>,
        /// Draft lengths offered to speculative users (default 1..=8).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub draft_lengths: Option<Vec<i64>>,
        /// Escalation fractions offered to cascades (default 0.1, 0.2, 0.3, 0.4, 0.5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub escalations: Option<Vec<f64>>,
        /// The cascade router's sharpness `gamma` (default 2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub router_sharpness: Option<f64>,
        /// The escalation of the cascade-fixed baseline (default 0.3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub baseline_escalation: Option<f64>,
        /// Bytes of a token id on the radio (default 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub token_bytes: Option<f64>,
        /// Bytes sent up per draft token (default `token_bytes`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub draft_token_bytes: Option<f64>,
        /// The evaluator's simulation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub monte_carlo: Option<MonteCarloSpec>,
        /// `[edge]`: the shared edge server.
        pub edge: EdgeSpec,
        /// `[[variants]]`.
        #[serde(default)]
        pub variants: Vec<VariantSpec>,
        /// `[[acceptance_rates]]`: overrides of the acceptance rates.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub acceptance_rates: Vec<AcceptanceSpec>,
        /// `[[users]]`.
        #[serde(default)]
        pub users: Vec<UserSpec>,
    }
}

/// `[monte_carlo]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonteCarloSpec {
    /// Simulated requests per user (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<i64>,
    /// Seed (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

/// `[[variants]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Name (default `<model>-<dtype>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A dense model config name in `models_dir`, or a `.toml` config path.
    pub model: String,
    /// Weight dtype (default fp16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// Quality, percent (default: the quality file's row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<f64>,
    /// Where `quality` comes from (only with `quality`; default "instance file").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_source: Option<String>,
    /// Tokenizer family (default the config's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
}

/// `[[acceptance_rates]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptanceSpec {
    /// The draft variant's name.
    pub draft: String,
    /// The target variant's name.
    pub target: String,
    /// Per-token acceptance rate, `[0, 1]`.
    pub rate: f64,
    /// Where it comes from (default "instance file").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `[edge]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    /// Name (default `edge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Row of devices.csv.
    pub device: String,
    /// Runtime on the device (`runtimes.csv`; default none: the device's own efficiencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Processor it runs on: gpu, cpu or npu (default: the runtime's, else the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Memory for variants and KV caches, bytes (default the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
    /// Resource blocks shared by the users.
    pub resource_blocks: i64,
    /// Bandwidth of one resource block, Hz.
    pub rb_bandwidth_hz: f64,
    /// Round trip between a user and the server, s.
    pub rtt_s: f64,
    /// Utilisation cap in `(0, 0.99]` (default 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_utilisation: Option<f64>,
}

/// `[[users]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Name (default `u<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Row of devices.csv.
    pub device: String,
    /// Runtime on the device (`runtimes.csv`; default none: the device's own efficiencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Processor it runs on: gpu, cpu or npu (default: the runtime's, else the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Device memory for a model and its KV cache, bytes (default the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Requests per second.
    pub rate_per_s: f64,
    /// Limit on the expected request latency, s.
    pub deadline_s: f64,
    /// Limit on the expected device energy per request, J.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_limit_j: Option<f64>,
    /// Quality target, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_target: Option<f64>,
    /// Weight in the objective (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Uplink SNR per resource block, dB.
    pub snr_db: f64,
    /// Downlink SNR per resource block, dB (default `snr_db`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downlink_snr_db: Option<f64>,
    /// Radio transmit power, W (default the device's `tx_power_w`, else 0.2 W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_power_w: Option<f64>,
    /// Radio receive power, W (default 0.1 W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_power_w: Option<f64>,
}

/// The benchmark used when an instance names none.
pub const DEFAULT_BENCHMARK: &str = "mmlu-5shot";
/// Transmit power of a device without `tx_power_w` in devices.csv, W (23 dBm, UE power class 3).
pub const DEFAULT_TX_POWER_W: f64 = 0.2;
/// Receive power of a user's radio, W.
pub const DEFAULT_RX_POWER_W: f64 = 0.1;
/// The default utilisation cap of the edge.
pub const DEFAULT_MAX_UTILISATION: f64 = 0.8;
/// The default draft lengths.
pub const DEFAULT_DRAFT_LENGTHS: [usize; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
/// The default escalation fractions.
pub const DEFAULT_ESCALATIONS: [f64; 5] = [0.1, 0.2, 0.3, 0.4, 0.5];
/// The default modes.
pub const DEFAULT_MODES: [ModeKind; 4] = [
    ModeKind::Device,
    ModeKind::Edge,
    ModeKind::Cascade,
    ModeKind::Speculative,
];
/// Where the default rule's rates come from.
pub const DEFAULT_ACCEPTANCE_SOURCE: &str = "default: 0.95 - 0.25 log10(ratio), an assumption";

/// Loads and validates a collab instance.
pub fn load(path: &Path) -> Result<CollabProblem> {
    let file: CollabInstanceFile = read_structured(path)?;
    file.into_problem(path)
}

/// A score of the quality file.
#[derive(Debug, Clone)]
struct Score {
    score: f64,
    source: String,
}

/// A rate of the acceptance file.
#[derive(Debug, Clone)]
struct Rate {
    rate: f64,
    source: String,
}

/// `(model, dtype, benchmark)` -> score, every row checked.
fn read_quality(path: &Path) -> Result<HashMap<(String, Dtype, String), Score>> {
    let mut csv = CsvFile::open(path)?;
    let idx = csv.require(path, ["model", "dtype", "benchmark", "score_pct", "source"])?;
    let mut scores = HashMap::new();
    for row in csv.rows(path) {
        let row = row?;
        let model = row.text(idx[0]).to_string();
        if model.is_empty() {
            return Err(row.bad("column `model`: empty model name".into()));
        }
        let dtype = Dtype::parse(row.text(idx[1])).ok_or_else(|| {
            row.bad(format!(
                "column `dtype`: expected fp32, fp16, int8 or q4, got `{}`",
                row.text(idx[1])
            ))
        })?;
        let benchmark = row.text(idx[2]).to_string();
        if benchmark.is_empty() {
            return Err(row.bad("column `benchmark`: empty benchmark name".into()));
        }
        let score = row.range(idx[3], "score_pct", limits::QUALITY_PCT)?;
        let source = row.text(idx[4]).to_string();
        let key = (model.clone(), dtype, benchmark.clone());
        if scores.insert(key, Score { score, source }).is_some() {
            return Err(row.bad(format!(
                "{model} {} on {benchmark} is listed twice",
                dtype.name()
            )));
        }
    }
    Ok(scores)
}

/// `(draft model, draft dtype, target model, target dtype)` -> rate, every row checked.
type RateKey = (String, Dtype, String, Dtype);

fn read_acceptance(path: &Path) -> Result<HashMap<RateKey, Rate>> {
    let mut csv = CsvFile::open(path)?;
    let idx = csv.require(
        path,
        [
            "draft",
            "draft_dtype",
            "target",
            "target_dtype",
            "acceptance",
            "source",
        ],
    )?;
    let mut rates = HashMap::new();
    for row in csv.rows(path) {
        let row = row?;
        let name = |i: usize, column: &str| -> Result<String> {
            let text = row.text(idx[i]);
            if text.is_empty() {
                Err(row.bad(format!("column `{column}`: empty model name")))
            } else {
                Ok(text.to_string())
            }
        };
        let dtype = |i: usize, column: &str| -> Result<Dtype> {
            Dtype::parse(row.text(idx[i])).ok_or_else(|| {
                row.bad(format!(
                    "column `{column}`: expected fp32, fp16, int8 or q4, got `{}`",
                    row.text(idx[i])
                ))
            })
        };
        let key = (
            name(0, "draft")?,
            dtype(1, "draft_dtype")?,
            name(2, "target")?,
            dtype(3, "target_dtype")?,
        );
        if key.0 == key.2 && key.1 == key.3 {
            return Err(row.bad("a model cannot draft for itself".into()));
        }
        let rate = row.range(idx[4], "acceptance", limits::UNIT_INTERVAL)?;
        let source = row.text(idx[5]).to_string();
        if rates.insert(key, Rate { rate, source }).is_some() {
            return Err(row.bad("this draft and target pair is listed twice".into()));
        }
    }
    Ok(rates)
}

/// The file of `field` (`quality` or `acceptance`): as given (relative to the instance), else
/// `default` next to the instance file, else `collab/<default>` beside the device catalog.
/// `None` when not given and neither default exists.
fn data_file(
    path: &Path,
    given: Option<&str>,
    default: &str,
    sources: Sources<'_>,
) -> Option<PathBuf> {
    if let Some(given) = given {
        return Some(resolve(path, given));
    }
    let beside = path
        .is_file()
        .then(|| path.parent().map(|d| d.join(default)))
        .flatten()
        .filter(|p| p.is_file());
    beside.or_else(|| {
        let catalog_dir = sources.devices_path.parent()?;
        Some(catalog_dir.join("collab").join(default)).filter(|p| p.is_file())
    })
}

impl CollabInstanceFile {
    /// Validates the file and resolves the tables it references (paths relative to `path`).
    pub fn into_problem(&self, path: &Path) -> Result<CollabProblem> {
        with_sources(path, [&self.devices, &self.models_dir, &None], |sources| {
            self.build(path, sources)
        })
    }

    /// Validates the file against already loaded sources; `path` names the file in errors and
    /// anchors its relative paths.
    pub fn build(&self, path: &Path, sources: Sources<'_>) -> Result<CollabProblem> {
        let name = instance_name(path, &self.problem, "collab", self.name.as_deref())?;
        let models_dir = match &self.models_dir {
            Some(dir) => resolve(path, dir),
            None => sources.models_dir.to_path_buf(),
        };
        let objective = match self.objective.as_deref() {
            None => Objective::Quality,
            Some(text) => Objective::parse(text).ok_or_else(|| {
                Error::field(
                    path,
                    "objective",
                    format!("expected quality or served, got \"{text}\""),
                )
            })?,
        };
        let modes = self.modes(path)?;
        let draft_lengths = self.draft_lengths(path)?;
        let escalations = self.escalations(path)?;
        let router_sharpness = limits::ROUTER_SHARPNESS.check(
            path,
            "router_sharpness",
            self.router_sharpness.unwrap_or(2.0),
        )?;
        let baseline_escalation = limits::UNIT_INTERVAL.check(
            path,
            "baseline_escalation",
            self.baseline_escalation.unwrap_or(0.3),
        )?;
        let token_bytes =
            limits::TOKEN_BYTES.check(path, "token_bytes", self.token_bytes.unwrap_or(4.0))?;
        let draft_token_bytes = limits::TOKEN_BYTES.check(
            path,
            "draft_token_bytes",
            self.draft_token_bytes.unwrap_or(token_bytes),
        )?;
        let benchmark = self
            .benchmark
            .clone()
            .unwrap_or_else(|| DEFAULT_BENCHMARK.to_string());
        if benchmark.trim().is_empty() {
            return Err(Error::field(
                path,
                "benchmark",
                "expected a benchmark name (e.g. mmlu-5shot), got an empty one",
            ));
        }
        let (variants, contexts) = self.variants(path, &models_dir, &benchmark, sources)?;
        let (acceptance, acceptance_source) = self.acceptance(path, &variants, sources)?;
        let edge = self.edge.server(path, sources, &variants)?;
        let users = self.users(path, &variants, &contexts, sources)?;
        let mc = self.monte_carlo.clone().unwrap_or_default();
        let mc_requests = bounded_int(
            path,
            "monte_carlo.requests",
            mc.requests,
            Some(2000),
            2,
            limits::MAX_SMALL_COUNT,
        )?;
        let mc_seed = bounded_int(
            path,
            "monte_carlo.seed",
            mc.seed,
            Some(1),
            0,
            i64::MAX as usize,
        )? as u64;
        // The pricing: every user prices every candidate mode, a speculative one by a
        // recursion over its output tokens and draft length; the simulation walks every
        // simulated request token by token.
        let nv = variants.len();
        let rows = variants.iter().map(|v| v.table.len()).max().unwrap_or(1);
        let max_output = users.iter().map(|u| u.output_tokens).max().unwrap_or(1);
        let modes_per_user = nv * (2 + nv * (escalations.len() + draft_lengths.len()) + rows);
        limits::cells(
            path,
            "users x modes per user x (output tokens + layers)",
            &[users.len(), modes_per_user, max_output + rows],
        )?;
        let k_max = draft_lengths.iter().copied().max().unwrap_or(1);
        limits::cells(
            path,
            "users x monte_carlo.requests x output tokens",
            &[users.len(), mc_requests, max_output.max(k_max)],
        )?;
        Ok(CollabProblem {
            name,
            description: self.description.clone(),
            benchmark,
            variants,
            acceptance,
            acceptance_source,
            edge,
            users,
            modes,
            draft_lengths,
            escalations,
            router_sharpness,
            baseline_escalation,
            token_bytes,
            draft_token_bytes,
            objective,
            mc_requests,
            mc_seed,
        })
    }

    /// The modes allowed: known names, none twice, at least one.
    fn modes(&self, path: &Path) -> Result<Vec<ModeKind>> {
        let Some(names) = &self.modes else {
            return Ok(DEFAULT_MODES.to_vec());
        };
        if names.is_empty() {
            return Err(Error::field(
                path,
                "modes",
                "expected at least one of device, edge, cascade, speculative, split",
            ));
        }
        let mut modes = Vec::with_capacity(names.len());
        for (i, text) in names.iter().enumerate() {
            let mode = ModeKind::parse(text).ok_or_else(|| {
                Error::field(
                    path,
                    format!("modes[{i}]"),
                    format!("expected device, edge, cascade, speculative or split, got \"{text}\""),
                )
            })?;
            if modes.contains(&mode) {
                return Err(Error::field(
                    path,
                    format!("modes[{i}]"),
                    format!("\"{text}\" is listed twice"),
                ));
            }
            modes.push(mode);
        }
        Ok(modes)
    }

    /// The draft lengths: each in `1..=MAX_DRAFT_LENGTH`, none twice, at least one.
    fn draft_lengths(&self, path: &Path) -> Result<Vec<usize>> {
        let Some(list) = &self.draft_lengths else {
            return Ok(DEFAULT_DRAFT_LENGTHS.to_vec());
        };
        limits::entries(path, "draft_lengths", list.len(), limits::MAX_DRAFT_LENGTH)?;
        let mut out = Vec::with_capacity(list.len());
        for (i, &k) in list.iter().enumerate() {
            let field = format!("draft_lengths[{i}]");
            let k = limits::count(path, &field, k, 1, limits::MAX_DRAFT_LENGTH)?;
            if out.contains(&k) {
                return Err(Error::field(path, field, format!("{k} is listed twice")));
            }
            out.push(k);
        }
        Ok(out)
    }

    /// The escalation fractions: each in `[0, 1]`, none twice, at least one.
    fn escalations(&self, path: &Path) -> Result<Vec<f64>> {
        let Some(list) = &self.escalations else {
            return Ok(DEFAULT_ESCALATIONS.to_vec());
        };
        limits::entries(path, "escalations", list.len(), limits::MAX_ESCALATIONS)?;
        let mut out: Vec<f64> = Vec::with_capacity(list.len());
        for (i, &p) in list.iter().enumerate() {
            let field = format!("escalations[{i}]");
            let p = limits::UNIT_INTERVAL.check(path, &field, p)?;
            if out.contains(&p) {
                return Err(Error::field(path, field, format!("{p} is listed twice")));
            }
            out.push(p);
        }
        Ok(out)
    }

    /// The variants (dense configs, each config loaded once, names unique, every one with a
    /// quality score) and the longest context each takes.
    #[allow(clippy::type_complexity)]
    fn variants(
        &self,
        path: &Path,
        models_dir: &Path,
        benchmark: &str,
        sources: Sources<'_>,
    ) -> Result<(Vec<Variant>, Vec<Option<usize>>)> {
        if self.variants.is_empty() {
            return Err(Error::field(
                path,
                "variants",
                "missing: expected at least one [[variants]] table",
            ));
        }
        limits::entries(path, "variants", self.variants.len(), limits::MAX_VARIANTS)?;
        // The quality file is read only when a variant needs it.
        let needs_file = self.variants.iter().any(|v| v.quality.is_none());
        let quality_path = data_file(path, self.quality.as_deref(), "quality.csv", sources);
        let scores = match (&quality_path, needs_file) {
            (Some(q), true) => read_quality(q)?,
            (None, true) => {
                return Err(Error::field(
                    path,
                    "quality",
                    "missing: no quality.csv next to the instance or in collab/ beside the \
                     device catalog; name the quality file or give every variant a quality",
                ))
            }
            (_, false) => HashMap::new(),
        };
        let mut configs: HashMap<String, ModelConfig> = HashMap::new();
        let mut names = HashMap::new();
        let mut variants = Vec::with_capacity(self.variants.len());
        let mut contexts = Vec::with_capacity(self.variants.len());
        for (i, spec) in self.variants.iter().enumerate() {
            let field = format!("variants[{i}]");
            let f = |name: &str| format!("{field}.{name}");
            let dtype = parse_dtype(path, &f("dtype"), spec.dtype.as_deref())?;
            if spec.model.ends_with(".csv") {
                return Err(Error::field(
                    path,
                    f("model"),
                    "a variant needs a model config (a name or a .toml), not a CSV cost table",
                ));
            }
            if !configs.contains_key(&spec.model) {
                let config_path = if spec.model.ends_with(".toml") {
                    resolve(path, &spec.model)
                } else {
                    ModelConfig::resolve(models_dir, &spec.model)
                        .map_err(|e| at_field(path, &f("model"), e))?
                };
                let config = ModelConfig::load(&config_path)?;
                if config.architecture.experts > 1 {
                    return Err(Error::field(
                        path,
                        f("model"),
                        format!(
                            "{} is a mixture-of-experts model: the collab problem prices dense \
                             models only",
                            config.name
                        ),
                    ));
                }
                configs.insert(spec.model.clone(), config);
            }
            let config = &configs[&spec.model];
            let name = spec
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", config.name, dtype.name()));
            if name.trim().is_empty() {
                return Err(Error::field(path, f("name"), "expected a non-empty name"));
            }
            unique(path, &f("name"), &name, &mut names)?;
            let (quality, quality_source) = match (spec.quality, &spec.quality_source) {
                (Some(q), source) => (
                    limits::QUALITY_PCT.check(path, &f("quality"), q)?,
                    source.clone().unwrap_or_else(|| "instance file".into()),
                ),
                (None, Some(_)) => {
                    return Err(Error::field(
                        path,
                        f("quality_source"),
                        "a quality_source goes with a quality",
                    ))
                }
                (None, None) => {
                    let key = (config.name.clone(), dtype, benchmark.to_string());
                    let score = scores.get(&key).ok_or_else(|| {
                        Error::field(
                            path,
                            f("model"),
                            format!(
                                "variant \"{name}\": no row for {} {} on {benchmark} in {}; add \
                                 one or give the variant a quality",
                                config.name,
                                dtype.name(),
                                quality_path
                                    .as_deref()
                                    .map_or("the quality file".into(), |p| p.display().to_string())
                            ),
                        )
                    })?;
                    (score.score, score.source.clone())
                }
            };
            let family = match &spec.tokenizer {
                Some(t) if t.trim().is_empty() => {
                    return Err(Error::field(
                        path,
                        f("tokenizer"),
                        "expected a tokenizer family name, got an empty one",
                    ))
                }
                Some(t) => t.clone(),
                None => config
                    .tokenizer
                    .clone()
                    .unwrap_or_else(|| config.name.clone()),
            };
            let table = config.architecture.cost_table(&config.name, dtype);
            contexts.push(config.architecture.max_context);
            variants.push(Variant {
                name,
                model: config.name.clone(),
                dtype,
                family,
                params: table.total_params() as f64,
                table,
                quality,
                quality_source,
            });
        }
        Ok((variants, contexts))
    }

    /// The acceptance matrix and the source of each rate.
    #[allow(clippy::type_complexity)]
    fn acceptance(
        &self,
        path: &Path,
        variants: &[Variant],
        sources: Sources<'_>,
    ) -> Result<(Vec<Vec<Option<f64>>>, Vec<Vec<String>>)> {
        let nv = variants.len();
        let mut rate = vec![vec![None; nv]; nv];
        let mut source = vec![vec![String::new(); nv]; nv];
        let file_rates =
            match data_file(path, self.acceptance.as_deref(), "acceptance.csv", sources) {
                Some(p) => read_acceptance(&p)?,
                None => HashMap::new(),
            };
        for (d, dv) in variants.iter().enumerate() {
            for (t, tv) in variants.iter().enumerate() {
                if d == t || dv.family != tv.family {
                    continue;
                }
                let key = (dv.model.clone(), dv.dtype, tv.model.clone(), tv.dtype);
                if let Some(r) = file_rates.get(&key) {
                    rate[d][t] = Some(r.rate);
                    source[d][t] = r.source.clone();
                } else if dv.params < tv.params {
                    rate[d][t] = Some(default_acceptance(dv.params, tv.params));
                    source[d][t] = DEFAULT_ACCEPTANCE_SOURCE.to_string();
                }
            }
        }
        let index = |i: usize, field: &str, name: &str| -> Result<usize> {
            variants.iter().position(|v| v.name == name).ok_or_else(|| {
                let known: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                Error::field(
                    path,
                    format!("acceptance_rates[{i}].{field}"),
                    format!(
                        "no variant is called \"{name}\" (variants: {})",
                        known.join(", ")
                    ),
                )
            })
        };
        let mut seen = Vec::new();
        for (i, spec) in self.acceptance_rates.iter().enumerate() {
            let d = index(i, "draft", &spec.draft)?;
            let t = index(i, "target", &spec.target)?;
            let field = |name: &str| format!("acceptance_rates[{i}].{name}");
            if d == t {
                return Err(Error::field(
                    path,
                    field("target"),
                    "a variant cannot draft for itself",
                ));
            }
            if variants[d].family != variants[t].family {
                return Err(Error::field(
                    path,
                    field("target"),
                    format!(
                        "{} (tokenizer {}) cannot draft for {} (tokenizer {}): speculative \
                         decoding needs a shared tokenizer",
                        variants[d].name, variants[d].family, variants[t].name, variants[t].family
                    ),
                ));
            }
            if seen.contains(&(d, t)) {
                return Err(Error::field(
                    path,
                    field("target"),
                    format!("the pair {} -> {} is listed twice", spec.draft, spec.target),
                ));
            }
            seen.push((d, t));
            rate[d][t] = Some(limits::UNIT_INTERVAL.check(path, &field("rate"), spec.rate)?);
            source[d][t] = spec
                .source
                .clone()
                .unwrap_or_else(|| "instance file".into());
        }
        Ok((rate, source))
    }

    /// The users, names unique, workloads within every variant's context.
    fn users(
        &self,
        path: &Path,
        variants: &[Variant],
        contexts: &[Option<usize>],
        sources: Sources<'_>,
    ) -> Result<Vec<CollabUser>> {
        if self.users.is_empty() {
            return Err(Error::field(
                path,
                "users",
                "missing: expected at least one [[users]] table",
            ));
        }
        limits::entries(path, "users", self.users.len(), limits::MAX_USERS)?;
        // The variant with the shortest context bounds every user's prompt and output.
        let shortest = contexts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (c, i)))
            .min();
        let mut names = HashMap::new();
        let mut users = Vec::with_capacity(self.users.len());
        for (k, spec) in self.users.iter().enumerate() {
            let user = spec.user(path, k, sources, variants)?;
            if let Some((context, i)) = shortest {
                let tokens = user.prompt_tokens + user.output_tokens;
                if tokens > context {
                    return Err(Error::field(
                        path,
                        format!("users[{k}].output_tokens"),
                        format!(
                            "{} prompt + {} output tokens exceed the maximum context of {} \
                             of variant {}",
                            user.prompt_tokens, user.output_tokens, context, variants[i].name
                        ),
                    ));
                }
            }
            unique(path, &format!("users[{k}].name"), &user.name, &mut names)?;
            users.push(user);
        }
        Ok(users)
    }
}

impl EdgeSpec {
    fn server(
        &self,
        path: &Path,
        sources: Sources<'_>,
        variants: &[Variant],
    ) -> Result<EdgeServer> {
        let f = |name: &str| format!("edge.{name}");
        let device = sources
            .catalog
            .get(&self.device, sources.devices_path)
            .map_err(|e| at_field(path, &f("device"), e))?
            .clone();
        let memory_bytes = match self.memory_bytes {
            Some(m) => limits::MEMORY_BYTES.check(path, &f("memory_bytes"), m)?,
            None => device.memory_bytes,
        };
        let resource_blocks = limits::count(
            path,
            &f("resource_blocks"),
            self.resource_blocks,
            1,
            limits::MAX_SMALL_COUNT,
        )?;
        let name = self.name.clone().unwrap_or_else(|| "edge".into());
        if name.trim().is_empty() {
            return Err(Error::field(path, f("name"), "expected a non-empty name"));
        }
        let runtime_devices = runtime_devices(
            path,
            "edge",
            sources.catalog,
            &self.device,
            [self.runtime.as_deref(), self.unit.as_deref()],
            &models(variants),
        )?;
        Ok(EdgeServer {
            name,
            device,
            runtime_devices,
            memory_bytes,
            resource_blocks,
            rb_bandwidth_hz: limits::BANDWIDTH_HZ.check(
                path,
                &f("rb_bandwidth_hz"),
                self.rb_bandwidth_hz,
            )?,
            rtt_s: limits::LATENCY_S.check(path, &f("rtt_s"), self.rtt_s)?,
            max_utilisation: limits::UTILISATION_CAP.check(
                path,
                &f("max_utilisation"),
                self.max_utilisation.unwrap_or(DEFAULT_MAX_UTILISATION),
            )?,
        })
    }
}

/// `(dtype, cost-table rows)` of every variant.
fn models(variants: &[Variant]) -> Vec<(Dtype, usize)> {
    variants.iter().map(|v| (v.dtype, v.table.len())).collect()
}

/// Linear SNR of a value in dB.
fn snr_linear(db: f64) -> f64 {
    10f64.powf(db / 10.0)
}

impl UserSpec {
    fn user(
        &self,
        path: &Path,
        k: usize,
        sources: Sources<'_>,
        variants: &[Variant],
    ) -> Result<CollabUser> {
        let f = |name: &str| format!("users[{k}].{name}");
        let name = self.name.clone().unwrap_or_else(|| format!("u{k}"));
        if name.trim().is_empty() {
            return Err(Error::field(path, f("name"), "expected a non-empty name"));
        }
        let device = sources
            .catalog
            .get(&self.device, sources.devices_path)
            .map_err(|e| at_field(path, &f("device"), e))?
            .clone();
        let memory_bytes = match self.memory_bytes {
            Some(m) => limits::MEMORY_BYTES.check(path, &f("memory_bytes"), m)?,
            None => device.memory_bytes,
        };
        let prompt_tokens = limits::count(
            path,
            &f("prompt_tokens"),
            self.prompt_tokens,
            1,
            limits::MAX_TOKENS,
        )?;
        let output_tokens = limits::count(
            path,
            &f("output_tokens"),
            self.output_tokens,
            1,
            limits::MAX_TOKENS,
        )?;
        let snr_db = limits::SNR_DB.check(path, &f("snr_db"), self.snr_db)?;
        let down_db = limits::SNR_DB.check(
            path,
            &f("downlink_snr_db"),
            self.downlink_snr_db.unwrap_or(snr_db),
        )?;
        let tx_power_w = limits::POWER_W.check(
            path,
            &f("tx_power_w"),
            self.tx_power_w
                .or(device.tx_power_w)
                .unwrap_or(DEFAULT_TX_POWER_W),
        )?;
        let rx_power_w = limits::POWER_W.check(
            path,
            &f("rx_power_w"),
            self.rx_power_w.unwrap_or(DEFAULT_RX_POWER_W),
        )?;
        let runtime_devices = runtime_devices(
            path,
            &format!("users[{k}]"),
            sources.catalog,
            &self.device,
            [self.runtime.as_deref(), self.unit.as_deref()],
            &models(variants),
        )?;
        Ok(CollabUser {
            runtime_devices,
            name,
            memory_bytes,
            prompt_tokens,
            output_tokens,
            rate_per_s: limits::RATE_PER_S.check(path, &f("rate_per_s"), self.rate_per_s)?,
            deadline_s: limits::DURATION_S.check(path, &f("deadline_s"), self.deadline_s)?,
            energy_limit_j: limits::ENERGY_J.check_opt(
                path,
                &f("energy_limit_j"),
                self.energy_limit_j,
            )?,
            quality_target: limits::QUALITY_PCT.check_opt(
                path,
                &f("quality_target"),
                self.quality_target,
            )?,
            weight: limits::WEIGHT.check(path, &f("weight"), self.weight.unwrap_or(1.0))?,
            snr_up: snr_linear(snr_db),
            snr_down: snr_linear(down_db),
            tx_power_w,
            rx_power_w,
            device,
        })
    }
}

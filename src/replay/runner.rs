//! Executing a split-inference plan for real and comparing it with the planner's prediction.
//!
//! The plan runs on the replay's ring (`replay::ring`): the device (position 0, holding the
//! prompt) and each tier up to the last one that runs layers are positions going up, then the
//! tiers below that one again, relaying the sampled token down. Consecutive tiers talk over one
//! [`EmulatedLink`] per instance link, with its rates and round-trip time (device-edge: the
//! wireless link; edge-cloud: the backhaul): hidden states go up, the token comes down the same
//! link. A tier with no layers between two busy ones relays (store and forward), as the planner
//! charges both links. One prefill pass of the prompt, then one decode pass per generated token,
//! each pass ending when the token reaches the device — the planner's model of docs/split.md.
//!
//! The reported payload bytes per cut count the token ids and values only (the planner's bytes).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::link::{EmulatedLink, LinkSpec, LinkStats};
use super::ring::{self, io, Hop, Shared};
use crate::chain::evaluate::evaluate;
use crate::chain::{SplitPlan, SplitProblem, Tier, Workload};
use crate::costs::arch::{ArchConfig, Dtype, ModelConfig};
use crate::costs::profiler::engine::{self, Dims};
use crate::costs::table::CostTable;
use crate::error::{Error, Result};

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Threads of each tier's matrix products (tiers compute one at a time).
    pub threads: usize,
    /// Seed of the random weights and the prompt.
    pub seed: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            threads: 1,
            seed: 0,
        }
    }
}

/// One tier's part of the run.
#[derive(Debug, Clone, Serialize)]
pub struct TierRun {
    /// The tier.
    pub tier: Tier,
    /// Its layers, `first..end`.
    pub layers: (usize, usize),
    /// Measured compute time over all passes, s.
    pub compute_s: f64,
    /// The planner's compute time, s.
    pub predicted_compute_s: f64,
}

/// The traffic across one cut.
#[derive(Debug, Clone, Serialize)]
pub struct CutTraffic {
    /// The last layer below the cut.
    pub after_layer: usize,
    /// Payload bytes up in the prefill pass.
    pub bytes_prefill: u64,
    /// Payload bytes up in one decode pass.
    pub bytes_per_decode_step: u64,
    /// The planner's bytes up in the prefill pass.
    pub predicted_bytes_prefill: f64,
    /// The planner's bytes up per decode pass.
    pub predicted_bytes_per_decode_step: Option<f64>,
}

/// What a replay measured against what the planner predicted.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Model name.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens (decode passes).
    pub generate_tokens: usize,
    /// Cuts `(c1, c2)`: layers `0..c1` on the device, `c1..c2` on the edge, the rest on the cloud.
    pub cuts: (usize, usize),
    /// Measured end-to-end latency (prompt sent to the last token at the device), s.
    pub measured_s: f64,
    /// The planner's latency from the instance's profiled tables (or roofline), s.
    pub predicted_s: f64,
    /// `measured / predicted - 1`.
    pub error: f64,
    /// Measured time to the first token (the prefill pass), s.
    pub prefill_s: f64,
    /// Per tier that runs or relays.
    pub tiers: Vec<TierRun>,
    /// Per cut.
    pub cuts_traffic: Vec<CutTraffic>,
    /// Wire statistics of each emulated link (device-edge, edge-cloud), framing included.
    pub links: Vec<LinkStats>,
    /// The tokens the device received, in order.
    pub tokens: Vec<u32>,
}

/// The architecture of a split instance's model: the instance file's `model` resolved in its
/// `models_dir` (default `../models` next to it).
pub fn instance_architecture(path: &Path) -> Result<ModelConfig> {
    #[derive(serde::Deserialize)]
    struct Head {
        model: String,
        models_dir: Option<String>,
    }
    let head: Head = crate::instance::read_structured(path)?;
    let dir = crate::instance::resolve(path, head.models_dir.as_deref().unwrap_or("../models"));
    ModelConfig::load(&ModelConfig::resolve(&dir, &head.model)?)
}

/// Replays `plan` on `problem` (an inference workload) with the architecture `arch` and
/// compares it with the planner's evaluation.
pub fn replay(
    problem: &SplitProblem,
    arch: &ArchConfig,
    plan: &SplitPlan,
    options: &ReplayOptions,
) -> Result<ReplayReport> {
    let (prompt, generate) = inference_workload(problem.workload)?;
    let shared = shared(arch, &problem.table, options)?;
    let n = shared.dims.layers();
    let evaluation = evaluate(problem, plan)?;
    let (c1, c2) = replayable_cuts(plan)?;
    let ranges = [(0, c1), (c1, c2), (c2, n)];
    let last = (0..3)
        .rev()
        .find(|&t| ranges[t].0 < ranges[t].1)
        .unwrap_or(0);
    // The ring: tiers 0..=last going up, then tiers last-1..1 again relaying the token down.
    let mut ring_ranges: Vec<(usize, usize)> = ranges[..=last].to_vec();
    ring_ranges.extend((1..last).rev().map(|_| (n, n)));
    let links = start_links(problem, last)?;
    // Up over link t (lower -> upper), then down over the same links (upper -> lower).
    let mut hops = Vec::with_capacity(2 * last);
    let mut downs = Vec::with_capacity(last);
    let mut handles = Vec::with_capacity(last);
    for link in links {
        let EmulatedLink {
            lower,
            upper,
            handle,
        } = link;
        downs.push(Hop {
            tx: upper.try_clone().map_err(io)?,
            rx: lower.try_clone().map_err(io)?,
        });
        hops.push(Hop {
            tx: lower,
            rx: upper,
        });
        handles.push(handle);
    }
    hops.extend(downs.into_iter().rev());
    // Weights and caches, built before the clock starts.
    let mut positions = ring::build(&shared, &ring_ranges, prompt + generate + 1, options.seed);
    let ids = ring::prompt_ids(prompt, shared.dims.vocab, options.seed);
    let results = ring::run(&mut positions, hops, &shared, ids, prompt, generate)?;
    drop(positions);
    let links: Vec<LinkStats> = handles
        .into_iter()
        .map(|h| h.join().map_err(io))
        .collect::<Result<_>>()?;
    let device = &results[0];
    let measured_s = device.token_at.last().copied().unwrap_or(0.0);
    let tiers = (0..=last)
        .map(|t| TierRun {
            tier: Tier::ALL[t],
            layers: ranges[t],
            compute_s: results[t].compute_s,
            predicted_compute_s: evaluation.compute_s[t],
        })
        .collect();
    // Traffic per cut: what the tier below a cut sent up (position t is tier t going up).
    let cuts_traffic = evaluation
        .cuts
        .iter()
        .map(|cut| {
            let sent = &results[cut.from.index()].sent_bytes;
            CutTraffic {
                after_layer: cut.after_layer,
                bytes_prefill: sent.first().copied().unwrap_or(0),
                bytes_per_decode_step: sent.get(1).copied().unwrap_or(0),
                predicted_bytes_prefill: cut.bytes_first_pass,
                predicted_bytes_per_decode_step: cut.bytes_per_decode_step,
            }
        })
        .collect();
    Ok(ReplayReport {
        model: problem.table.model.clone(),
        prompt_tokens: prompt,
        generate_tokens: generate,
        cuts: (c1, c2),
        measured_s,
        predicted_s: evaluation.latency_s,
        error: measured_s / evaluation.latency_s - 1.0,
        prefill_s: device.token_at.first().copied().unwrap_or(0.0),
        tiers,
        cuts_traffic,
        links,
        tokens: device.tokens.clone(),
    })
}

/// The replay's shared state for `arch` (whose rows must be the instance's `table`'s): its
/// dimensions and a pool of `options.threads` threads. An error unless the table prices fp32
/// (what the replay runs).
pub(crate) fn shared(
    arch: &ArchConfig,
    table: &CostTable,
    options: &ReplayOptions,
) -> Result<Shared> {
    let dims = Dims::from_arch(arch).map_err(|message| Error::option("model", message))?;
    let n = dims.layers();
    if table.layers.len() != n {
        return Err(Error::option(
            "model",
            format!(
                "the architecture has {n} table rows but the instance's table has {}",
                table.layers.len()
            ),
        ));
    }
    if table.dtype != Some(Dtype::Fp32) {
        return Err(Error::option(
            "dtype",
            format!(
                "replay runs the model in fp32; the instance prices {} weights and activations \
                 (set dtype = \"fp32\")",
                table.dtype.map_or("unknown".into(), |d| d.to_string())
            ),
        ));
    }
    Ok(Shared {
        dims,
        threads: options.threads,
        pool: Arc::new(engine::pool(options.threads)),
    })
}

/// The prompt and generated tokens of an inference workload; an error for fine-tuning.
pub(crate) fn inference_workload(workload: Workload) -> Result<(usize, usize)> {
    match workload {
        Workload::Inference {
            prompt_tokens,
            generate_tokens,
        } => Ok((prompt_tokens, generate_tokens)),
        Workload::Finetune { .. } => Err(Error::option(
            "workload",
            "replay runs inference; the instance fine-tunes",
        )),
    }
}

/// The plan's cuts `(c1, c2)`; an error when its tiers are not contiguous.
fn replayable_cuts(plan: &SplitPlan) -> Result<(usize, usize)> {
    plan.cuts().ok_or_else(|| {
        Error::option(
            "plan",
            "tiers must be contiguous (device | edge | cloud) to replay",
        )
    })
}

/// The emulated links below tier `last` (device-edge, then edge-cloud), with the instance's
/// rates (bit/s) and round trips (s).
fn start_links(problem: &SplitProblem, last: usize) -> Result<Vec<EmulatedLink>> {
    let mut links = Vec::new();
    for k in 0..last {
        let link = [problem.wireless, problem.backhaul][k].ok_or_else(|| {
            Error::option(
                "plan",
                format!(
                    "the plan uses the {} link, which the instance does not have",
                    ["wireless", "backhaul"][k]
                ),
            )
        })?;
        links.push(
            EmulatedLink::start(LinkSpec {
                uplink_bps: link.uplink_bps,
                downlink_bps: link.downlink_bps,
                rtt_s: link.rtt_s,
            })
            .map_err(|e| Error::Solver(format!("emulated link: {e}")))?,
        );
    }
    Ok(links)
}

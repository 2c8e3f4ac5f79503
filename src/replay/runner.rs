//! Executing a split-inference plan for real and comparing it with the planner's prediction.
//!
//! Each tier up to the last one that runs layers is a thread holding the (random) weights of its
//! layers and their KV caches. Consecutive tiers talk over an [`EmulatedLink`] with the rates and
//! round-trip time of the instance's link (device-edge: the wireless link; edge-cloud: the
//! backhaul); a tier with no layers between two busy ones relays (store and forward), as the
//! planner charges both links. The device holds the prompt: it sends token ids (or hidden
//! states, after its layers) up; the tier with the head samples the next token (arg-max) and
//! sends its id back down to the device. One prefill pass of the prompt, then one decode pass
//! per generated token, each pass ending when the token reaches the device — the planner's
//! model of docs/split.md. As in the planner, only the last prompt token's hidden state
//! crosses a cut placed just before the head during prefill.
//!
//! Messages are a one-byte tag, the shape, then little-endian `u32` token ids or `f32` values;
//! the reported payload bytes per cut count the ids and values only (the planner's bytes).

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use serde::Serialize;

use super::link::{EmulatedLink, Endpoint, LinkSpec, LinkStats};
use crate::chain::evaluate::evaluate;
use crate::chain::{SplitPlan, SplitProblem, Tier, Workload};
use crate::costs::arch::{ArchConfig, Dtype, ModelConfig};
use crate::costs::profiler::engine::{self, Activation, Dims, KvCache, Layer};
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

/// A message on a link.
fn encode(a: &Activation) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + a.bytes());
    match a {
        Activation::Tokens(ids) => {
            out.push(0);
            out.extend((ids.len() as u32).to_le_bytes());
            for id in ids {
                out.extend(id.to_le_bytes());
            }
        }
        Activation::Hidden(x) => {
            out.push(1);
            out.extend((x.nrows() as u32).to_le_bytes());
            out.extend((x.ncols() as u32).to_le_bytes());
            for v in x.iter() {
                out.extend(v.to_le_bytes());
            }
        }
        Activation::Sampled(t) => {
            out.push(2);
            out.extend(t.to_le_bytes());
        }
    }
    out
}

/// A message read off a link.
fn decode(bytes: &[u8]) -> std::io::Result<Activation> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed message");
    let word = |i: usize| -> std::io::Result<u32> {
        let b = bytes.get(i..i + 4).ok_or_else(bad)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match bytes.first() {
        Some(0) => {
            let n = word(1)? as usize;
            Ok(Activation::Tokens(
                (0..n)
                    .map(|i| word(5 + 4 * i))
                    .collect::<std::io::Result<_>>()?,
            ))
        }
        Some(1) => {
            let (r, c) = (word(1)? as usize, word(5)? as usize);
            let values = (0..r * c)
                .map(|i| word(9 + 4 * i).map(f32::from_bits))
                .collect::<std::io::Result<Vec<f32>>>()?;
            Ok(Activation::Hidden(
                ndarray::Array2::from_shape_vec((r, c), values).map_err(|_| bad())?,
            ))
        }
        Some(2) => Ok(Activation::Sampled(word(1)?)),
        _ => Err(bad()),
    }
}

/// The prompt: `prompt` pseudo-random token ids below `vocab`.
fn prompt_ids(prompt: usize, vocab: usize, seed: u64) -> Vec<u32> {
    (0..prompt as u64)
        .map(|i| ((i + seed).wrapping_mul(2_654_435_761) % vocab as u64) as u32)
        .collect()
}

/// A tier's thread state.
struct Stage {
    layers: Vec<(usize, Layer)>,
    caches: Vec<KvCache>,
    dims: Dims,
    threads: usize,
    /// First layer of the next busy tier (the head gets only the last prefill row).
    next_first: Option<usize>,
    pool: Arc<rayon::ThreadPool>,
}

impl Stage {
    /// Runs the stage's layers on `x` (positions from `pos0`); returns the output and seconds.
    fn run(&mut self, mut x: Activation, pos0: usize) -> (Activation, f64) {
        let start = Instant::now();
        let (dims, threads) = (&self.dims, self.threads);
        let (layers, caches) = (&self.layers, &mut self.caches);
        self.pool.install(|| {
            let mut block = 0;
            for (_, layer) in layers {
                let cache = if matches!(layer, Layer::Block(_)) {
                    block += 1;
                    Some(&mut caches[block - 1])
                } else {
                    None
                };
                x = layer.forward(&x, cache, dims, pos0, threads);
            }
        });
        // Only the last row feeds the head (the planner's consumed tokens of the head).
        if let (Some(next), Activation::Hidden(h)) = (self.next_first, &x) {
            if next == dims.layers() - 1 && h.nrows() > 1 {
                x = Activation::Hidden(h.slice(ndarray::s![h.nrows() - 1.., ..]).to_owned());
            }
        }
        (x, start.elapsed().as_secs_f64())
    }
}

/// Replays `plan` on `problem` (an inference workload) with the architecture `arch` and
/// compares it with the planner's evaluation.
pub fn replay(
    problem: &SplitProblem,
    arch: &ArchConfig,
    plan: &SplitPlan,
    options: &ReplayOptions,
) -> Result<ReplayReport> {
    let (prompt, generate) = inference_workload(problem)?;
    let dims = Dims::from_arch(arch).map_err(|message| Error::option("model", message))?;
    let n = dims.layers();
    if problem.table.layers.len() != n {
        return Err(Error::option(
            "model",
            format!(
                "the architecture has {n} table rows but the instance's table has {}",
                problem.table.layers.len()
            ),
        ));
    }
    let evaluation = evaluate(problem, plan)?;
    let (c1, c2) = replayable_cuts(problem, plan)?;
    let ranges = [(0, c1), (c1, c2), (c2, n)];
    let last = (0..3)
        .rev()
        .find(|&t| ranges[t].0 < ranges[t].1)
        .unwrap_or(0);
    let links = start_links(problem, last)?;
    let pool = Arc::new(engine::pool(options.threads));
    // Weights and caches, built before the clock starts.
    let stages = build_stages(&dims, &ranges, last, prompt + generate + 1, options, &pool);
    let ids = prompt_ids(prompt, dims.vocab, options.seed);
    let (results, links) = run_stages(stages, links, ids, prompt, generate)?;
    let StageOut {
        tokens,
        elapsed_s: measured_s,
        prefill_s,
        ..
    } = results[0].clone();
    let tiers = (0..=last)
        .map(|t| TierRun {
            tier: Tier::ALL[t],
            layers: ranges[t],
            compute_s: results[t].compute_s,
            predicted_compute_s: evaluation.compute_s[t],
        })
        .collect();
    // Traffic per cut: what the tier below a cut sent up.
    let cuts_traffic = evaluation
        .cuts
        .iter()
        .map(|cut| {
            let sent = &results[cut.from.index()].sent;
            CutTraffic {
                after_layer: cut.after_layer,
                bytes_prefill: sent.iter().filter(|s| s.0 == 0).map(|s| s.1).sum(),
                bytes_per_decode_step: sent.iter().find(|s| s.0 == 1).map_or(0, |s| s.1),
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
        prefill_s,
        tiers,
        cuts_traffic,
        links,
        tokens,
    })
}

/// The prompt and generated tokens of an inference workload; an error for fine-tuning.
fn inference_workload(problem: &SplitProblem) -> Result<(usize, usize)> {
    match problem.workload {
        Workload::Inference {
            prompt_tokens,
            generate_tokens,
        } => Ok((prompt_tokens, generate_tokens)),
        Workload::Finetune { .. } => Err(Error::option(
            "workload",
            "replay runs split inference; the instance fine-tunes",
        )),
    }
}

/// The plan's cuts `(c1, c2)`; an error when its tiers are not contiguous or the instance is
/// not priced in fp32 (what the replay runs).
fn replayable_cuts(problem: &SplitProblem, plan: &SplitPlan) -> Result<(usize, usize)> {
    let Some((c1, c2)) = plan.cuts() else {
        return Err(Error::option(
            "plan",
            "tiers must be contiguous (device | edge | cloud) to replay",
        ));
    };
    if problem.table.dtype != Some(Dtype::Fp32) {
        return Err(Error::option(
            "dtype",
            format!(
                "replay runs the model in fp32; the instance prices {} weights and activations \
                 (set dtype = \"fp32\")",
                problem
                    .table
                    .dtype
                    .map_or("unknown".into(), |d| d.to_string())
            ),
        ));
    }
    Ok((c1, c2))
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

/// The stages of tiers `0..=last`, each with the random weights of its layers `ranges[t]` and
/// KV caches of `positions` positions, computing on `pool`.
fn build_stages(
    dims: &Dims,
    ranges: &[(usize, usize); 3],
    last: usize,
    positions: usize,
    options: &ReplayOptions,
    pool: &Arc<rayon::ThreadPool>,
) -> Vec<Stage> {
    (0..=last)
        .map(|t| {
            let (a, b) = ranges[t];
            let layers: Vec<(usize, Layer)> = pool.install(|| {
                (a..b)
                    .map(|l| (l, Layer::random(dims, l, options.seed)))
                    .collect()
            });
            let blocks = layers
                .iter()
                .filter(|(_, l)| matches!(l, Layer::Block(_)))
                .count();
            let next_first =
                (t + 1..=last).find_map(|u| (ranges[u].0 < ranges[u].1).then_some(ranges[u].0));
            Stage {
                layers,
                caches: (0..blocks).map(|_| KvCache::new(dims, positions)).collect(),
                dims: dims.clone(),
                threads: options.threads,
                next_first,
                pool: Arc::clone(pool),
            }
        })
        .collect()
}

/// What one stage's thread measured.
#[derive(Debug, Clone)]
struct StageOut {
    /// Compute time over all passes, s.
    compute_s: f64,
    /// Payload bytes sent up, per pass: `(pass, bytes)`.
    sent: Vec<(u64, u64)>,
    /// Tokens received (the device only).
    tokens: Vec<u32>,
    /// From the start to the last token, s.
    elapsed_s: f64,
    /// From the start to the first token (the device only), s.
    prefill_s: f64,
}

/// Maps a link's I/O error to the replay's error.
fn io(e: std::io::Error) -> Error {
    Error::Solver(format!("replay link: {e}"))
}

/// Runs every stage on its own thread, stage `t` talking down through `links[t - 1]` and up
/// through `links[t]`, from one start; returns what each measured and the links' statistics.
fn run_stages(
    mut stages: Vec<Stage>,
    links: Vec<EmulatedLink>,
    ids: Vec<u32>,
    prompt: usize,
    generate: usize,
) -> Result<(Vec<StageOut>, Vec<LinkStats>)> {
    // Endpoints: stage t talks down through links[t - 1].upper and up through links[t].lower.
    let mut downs: Vec<Option<Endpoint>> = vec![None];
    let mut ups: Vec<Option<Endpoint>> = Vec::new();
    let mut handles = Vec::new();
    for link in links {
        let EmulatedLink {
            lower,
            upper,
            handle,
        } = link;
        ups.push(Some(lower));
        downs.push(Some(upper));
        handles.push(handle);
    }
    ups.push(None);
    let barrier = Arc::new(Barrier::new(stages.len()));
    let results: Vec<Result<StageOut>> = std::thread::scope(|scope| {
        let mut joins = Vec::new();
        for ((stage, down), up) in stages.iter_mut().zip(downs.drain(..)).zip(ups.drain(..)) {
            let barrier = Arc::clone(&barrier);
            let ids = ids.clone();
            joins.push(
                scope.spawn(move || run_stage(stage, down, up, &barrier, ids, prompt, generate)),
            );
        }
        joins
            .into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(Error::Solver("replay: a tier panicked".into())))
            })
            .collect()
    });
    let results = results.into_iter().collect::<Result<Vec<_>>>()?;
    drop(stages);
    let links: Vec<LinkStats> = handles
        .into_iter()
        .map(|h| h.join().map_err(io))
        .collect::<Result<_>>()?;
    Ok((results, links))
}

/// One stage's thread: after the barrier, one prefill pass of the prompt `ids` and `generate`
/// decode passes, each taking its input from below (the device: the prompt or the last token),
/// sending its output up (or sampling the token at the head) and passing the token down.
fn run_stage(
    stage: &mut Stage,
    mut down: Option<Endpoint>,
    mut up: Option<Endpoint>,
    barrier: &Barrier,
    ids: Vec<u32>,
    prompt: usize,
    generate: usize,
) -> Result<StageOut> {
    let mut compute = 0.0;
    // Payload bytes sent up per pass (for the cut above this tier).
    let mut sent: Vec<(u64, u64)> = Vec::new();
    let mut tokens = Vec::new();
    barrier.wait();
    let start = Instant::now();
    let mut prefill_s = 0.0;
    let mut next_input = Activation::Tokens(ids);
    for pass in 0..=generate {
        let pos0 = if pass == 0 { 0 } else { prompt + pass - 1 };
        let input = match down.as_mut() {
            None => std::mem::replace(&mut next_input, Activation::Tokens(Vec::new())),
            Some(ep) => decode(&ep.recv().map_err(io)?).map_err(io)?,
        };
        let (out, seconds) = if stage.layers.is_empty() {
            (input, 0.0)
        } else {
            stage.run(input, pos0)
        };
        compute += seconds;
        let token = match (out, up.as_mut()) {
            (Activation::Sampled(token), _) => token,
            (out, Some(ep)) => {
                let bytes = out.bytes() as u64;
                sent.push((pass as u64, bytes));
                ep.send(&encode(&out)).map_err(io)?;
                match decode(&ep.recv().map_err(io)?).map_err(io)? {
                    Activation::Sampled(token) => token,
                    _ => return Err(Error::Solver("replay: expected a token".into())),
                }
            }
            (_, None) => {
                return Err(Error::Solver(
                    "replay: the last tier did not sample a token".into(),
                ))
            }
        };
        if let Some(ep) = down.as_mut() {
            ep.send(&encode(&Activation::Sampled(token))).map_err(io)?;
        } else {
            tokens.push(token);
            next_input = Activation::Tokens(vec![token]);
            if pass == 0 {
                prefill_s = start.elapsed().as_secs_f64();
            }
        }
    }
    Ok(StageOut {
        compute_s: compute,
        sent,
        tokens,
        elapsed_s: start.elapsed().as_secs_f64(),
        prefill_s,
    })
}

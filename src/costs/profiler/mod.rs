//! Measured per-layer latency of a real transformer on the local CPU ([`engine`]), written as a
//! profiled table (`layer,phase,tokens,latency_s,energy_j`, docs/costs.md).
//!
//! Layer by layer, one layer's (random) weights at a time so that models larger than memory can
//! be profiled: prefill of each of [`ProfileOptions::prefill_tokens`] tokens from an empty KV
//! cache, and one decode step at each context of [`ProfileOptions::decode_contexts`] (a cache
//! holding that many tokens). Each point is run `warmup` times untimed, then `reps` times; the
//! table holds the median, and the minimum and maximum as the spread. Before every run the
//! profiler reads and writes a buffer larger than the last-level cache ([`FLUSH_BYTES`]), so a
//! layer's weights are timed cold, as they are when a whole model runs (a GPT-2 block, 28 MB in
//! fp32, would otherwise stay in a 32 MB L3 between repetitions and look several times faster
//! in decode than in the real model). Energy is not measured (the column is left empty, so the
//! planner uses busy power x latency).

pub mod calibrate;
pub mod engine;

use std::io::Write;
use std::time::Instant;

use engine::{Activation, Dims, KvCache, Layer};

use crate::costs::latency::Phase;
use crate::error::{Error, Result};

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileOptions {
    /// Threads of the matrix products and attention.
    pub threads: usize,
    /// Prompt lengths timed for prefill.
    pub prefill_tokens: Vec<usize>,
    /// Context lengths timed for one decode step.
    pub decode_contexts: Vec<usize>,
    /// Untimed runs before each point.
    pub warmup: usize,
    /// Timed runs of each point.
    pub reps: usize,
    /// Seed of the random weights and inputs.
    pub seed: u64,
    /// Only these table rows (all when `None`).
    pub layers: Option<Vec<usize>>,
}

impl ProfileOptions {
    /// The points for a workload of `prompt` tokens and `decode` generated tokens: prefill at
    /// `prompt / 4` and `prompt`, decode at contexts `prompt`, `prompt + decode / 2` and
    /// `prompt + decode` (so every decode step of that workload is interpolated).
    pub fn for_workload(prompt: usize, decode: usize, threads: usize) -> ProfileOptions {
        let mut prefill = vec![(prompt / 4).max(1), prompt.max(1)];
        prefill.dedup();
        let mut contexts = vec![prompt, prompt + decode / 2, prompt + decode];
        contexts.dedup();
        ProfileOptions {
            threads: threads.max(1),
            prefill_tokens: prefill,
            decode_contexts: contexts,
            warmup: 1,
            reps: 7,
            seed: 0,
            layers: None,
        }
    }

    /// Checks the options; the error names the bad one.
    pub fn validate(&self, dims: &Dims) -> Result<()> {
        let bad = |field: &str, message: String| Err(Error::option(field, message));
        if self.threads == 0 {
            return bad("threads", "expected at least 1".into());
        }
        if self.reps == 0 {
            return bad("reps", "expected at least 1".into());
        }
        if self.prefill_tokens.is_empty() || self.prefill_tokens.contains(&0) {
            return bad(
                "prompt",
                "expected prompt lengths of at least 1 token".into(),
            );
        }
        if let Some(layers) = &self.layers {
            if let Some(l) = layers.iter().find(|&&l| l >= dims.layers()) {
                return bad(
                    "layers",
                    format!("layer {l} does not exist (0..={})", dims.layers() - 1),
                );
            }
        }
        Ok(())
    }
}

/// One measured point.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Measurement {
    /// Table row.
    pub layer: usize,
    /// Prefill or decode.
    pub phase: Phase,
    /// Prompt tokens (prefill) or context tokens (decode).
    pub tokens: usize,
    /// Median latency, s.
    pub latency_s: f64,
    /// Fastest run, s.
    pub min_s: f64,
    /// Slowest run, s.
    pub max_s: f64,
    /// Timed runs.
    pub reps: usize,
}

impl Measurement {
    /// Spread `(max - min) / median`.
    pub fn spread(&self) -> f64 {
        (self.max_s - self.min_s) / self.latency_s.max(1e-12)
    }
}

/// Median, min and max of `times`.
fn summary(mut times: Vec<f64>) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    };
    (median, times[0], times[n - 1])
}

/// Bytes of the buffer that evicts the caches before each timed run (3x a 32 MB L3).
pub const FLUSH_BYTES: usize = 96 << 20;

/// Reads and rewrites `buffer`, evicting what the caches held.
fn flush(buffer: &mut [u64]) {
    let mut sum = 0u64;
    for v in buffer.iter_mut() {
        sum = sum.wrapping_add(*v);
        *v = sum;
    }
    std::hint::black_box(sum);
}

/// Times `run` after `warmup` untimed calls; `reset` and a cache flush run before each call,
/// untimed.
fn time_it<S>(
    options: &ProfileOptions,
    buffer: &mut [u64],
    state: &mut S,
    reset: impl Fn(&mut S),
    run: impl Fn(&mut S),
) -> (f64, f64, f64) {
    for _ in 0..options.warmup {
        reset(state);
        run(state);
    }
    let times = (0..options.reps)
        .map(|_| {
            reset(state);
            flush(buffer);
            let start = Instant::now();
            run(state);
            start.elapsed().as_secs_f64()
        })
        .collect();
    summary(times)
}

/// Measures every point of `options` on `dims`, one layer's weights in memory at a time;
/// `progress(layer)` is called as each layer starts.
pub fn profile(
    dims: &Dims,
    options: &ProfileOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Measurement>> {
    options.validate(dims)?;
    let pool = engine::pool(options.threads);
    let threads = options.threads;
    let layers: Vec<usize> = options
        .layers
        .clone()
        .unwrap_or_else(|| (0..dims.layers()).collect());
    let longest = options
        .prefill_tokens
        .iter()
        .chain(&options.decode_contexts)
        .copied()
        .max()
        .unwrap_or(1)
        + 1;
    let mut out = Vec::new();
    let mut buffer = vec![1u64; FLUSH_BYTES / 8];
    pool.install(|| {
        for &l in &layers {
            progress(l);
            let layer = Layer::random(dims, l, options.seed);
            let input = |tokens: usize| match dims.kind(l) {
                crate::costs::table::LayerKind::Embed => Activation::Tokens(
                    (0..tokens as u32)
                        .map(|t| t.wrapping_mul(2_654_435_761) % dims.vocab as u32)
                        .collect(),
                ),
                _ => Activation::Hidden(
                    engine::Linear::random(tokens, dims.hidden, false, options.seed ^ 77).weight,
                ),
            };
            let mut record = |phase, tokens, (latency_s, min_s, max_s)| {
                out.push(Measurement {
                    layer: l,
                    phase,
                    tokens,
                    latency_s,
                    min_s,
                    max_s,
                    reps: options.reps,
                })
            };
            for &p in &options.prefill_tokens {
                let x = input(p);
                let mut cache = KvCache::new(dims, if l == 0 { 1 } else { longest });
                let stats = time_it(
                    options,
                    &mut buffer,
                    &mut cache,
                    |c| c.len = 0,
                    |c| {
                        let cache = matches!(layer, Layer::Block(_)).then_some(c);
                        std::hint::black_box(layer.forward(&x, cache, dims, 0, threads));
                    },
                );
                record(Phase::Prefill, p, stats);
            }
            for &ctx in &options.decode_contexts {
                let x = input(1);
                let mut cache = if matches!(layer, Layer::Block(_)) {
                    KvCache::random(dims, ctx + 1, ctx, options.seed ^ ctx as u64)
                } else {
                    KvCache::new(dims, 1)
                };
                let stats = time_it(
                    options,
                    &mut buffer,
                    &mut cache,
                    |c| c.len = ctx.min(c.capacity() - 1),
                    |c| {
                        let cache = matches!(layer, Layer::Block(_)).then_some(c);
                        std::hint::black_box(layer.forward(&x, cache, dims, ctx, threads));
                    },
                );
                record(Phase::Decode, ctx, stats);
            }
        }
    });
    Ok(out)
}

/// Writes `rows` as a profiled table, headed by `#` comment lines (`comments`, e.g. the CPU, the
/// command and the date); the extra columns `latency_min_s`, `latency_max_s`, `reps` and
/// `threads` hold the spread.
pub fn write_table<W: Write>(
    mut out: W,
    comments: &[String],
    rows: &[Measurement],
    threads: usize,
) -> std::io::Result<()> {
    for c in comments {
        writeln!(out, "# {c}")?;
    }
    writeln!(
        out,
        "layer,phase,tokens,latency_s,energy_j,latency_min_s,latency_max_s,reps,threads"
    )?;
    for m in rows {
        let phase = match m.phase {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        };
        writeln!(
            out,
            "{},{phase},{},{:.6e},,{:.6e},{:.6e},{},{threads}",
            m.layer, m.tokens, m.latency_s, m.min_s, m.max_s, m.reps
        )?;
    }
    Ok(())
}

/// The CPU as `/proc/cpuinfo` names it: model name, then family and model numbers (e.g.
/// `AMD EPYC (family 25, model 17)`), or `unknown CPU`.
pub fn cpu_model() -> String {
    let Ok(text) = std::fs::read_to_string("/proc/cpuinfo") else {
        return "unknown CPU".into();
    };
    let field = |name: &str| {
        text.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    match (field("model name"), field("cpu family"), field("model")) {
        (Some(name), Some(family), Some(model)) => {
            format!("{name} (family {family}, model {model})")
        }
        (Some(name), ..) => name,
        _ => "unknown CPU".into(),
    }
}

//! Per-layer latency and energy: the roofline model, and profiled tables that override it.
//!
//! Roofline: a layer that does `flop` FLOP and moves `bytes` bytes takes
//! `max(flop / (peak * compute_efficiency), bytes / (bandwidth * memory_efficiency))` seconds:
//! compute bound in prefill and training, memory bound in decode. With a runtime (module
//! `runtime`) the efficiencies are the runtime's for the phase (training counts as prefill,
//! speculative verification as decode) and every layer evaluation adds the runtime's fixed
//! overhead. Energy is busy power times that
//! time. A profiled table (`layer,phase,tokens,latency_s,energy_j`, docs/costs.md) measured on
//! the device wins wherever it has the layer and phase: values are interpolated linearly in
//! `tokens` between measured points and extrapolated linearly from the nearest two.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::device::Device;
use super::table::{CsvFile, LayerCost, LayerKind};
use crate::error::Result;
use crate::limits;

/// Seconds and joules of some piece of work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// Latency, s.
    pub latency_s: f64,
    /// Energy, J.
    pub energy_j: f64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Cost) {
        self.latency_s += other.latency_s;
        self.energy_j += other.energy_j;
    }
}

/// The phase a profiled row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Phase {
    /// Prompt processing of `tokens` tokens.
    Prefill,
    /// One decode step at context length `tokens` (tokens already in the KV cache).
    Decode,
}

impl Phase {
    /// Parses `prefill` or `decode`.
    pub fn parse(text: &str) -> Option<Phase> {
        match text {
            "prefill" => Some(Phase::Prefill),
            "decode" => Some(Phase::Decode),
            _ => None,
        }
    }

    /// `prefill` or `decode`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

/// A measured point: `(tokens, latency_s, energy_j)`.
type Point = (f64, f64, Option<f64>);

/// Measured points of one layer and phase, sorted by tokens.
type Curve = Vec<Point>;

/// A profiled per-layer table of one model on one device.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    curves: BTreeMap<(usize, Phase), Curve>,
}

impl Profile {
    /// Reads `layer,phase,tokens,latency_s,energy_j` (energy may be empty). `layers` is the number
    /// of rows of the model's cost table; a layer index outside it is an error.
    pub fn load(path: &Path, layers: usize) -> Result<Profile> {
        let mut csv = CsvFile::open(path)?;
        let [c_layer, c_phase, c_tokens, c_lat] =
            csv.require(path, ["layer", "phase", "tokens", "latency_s"])?;
        let c_energy = csv.column("energy_j");
        let mut profile = Profile::default();
        for row in csv.rows(path) {
            let row = row?;
            let layer: usize = row.parse(c_layer, "column `layer`", "a layer index", |_| true)?;
            if layer >= layers {
                return Err(row.bad(format!(
                    "layer {layer} does not exist: the model has {layers} layers (0..={})",
                    layers - 1
                )));
            }
            let phase = Phase::parse(row.text(c_phase)).ok_or_else(|| {
                row.bad(format!(
                    "column `phase`: expected prefill or decode, got `{}`",
                    row.text(c_phase)
                ))
            })?;
            let tokens: usize = row.parse(
                c_tokens,
                "column `tokens`",
                &format!("an integer in 0..={}", limits::MAX_TOKENS),
                |&t| t <= limits::MAX_TOKENS,
            )?;
            let tokens = tokens as f64;
            let latency = row.range(c_lat, "latency_s", limits::MEASURED_S)?;
            let energy = row
                .filled(c_energy)
                .map(|i| row.range(i, "energy_j", limits::MEASURED_J))
                .transpose()?;
            profile
                .curves
                .entry((layer, phase))
                .or_default()
                .push((tokens, latency, energy));
        }
        for curve in profile.curves.values_mut() {
            curve.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Ok(profile)
    }

    /// Measured cost of `layer` in `phase` at `tokens`, when the profile has that layer and phase.
    pub fn lookup(
        &self,
        layer: usize,
        phase: Phase,
        tokens: f64,
        busy_power_w: f64,
    ) -> Option<Cost> {
        let curve = self.curves.get(&(layer, phase))?;
        let interpolate = |value: &dyn Fn(&Point) -> f64| -> f64 {
            if curve.len() == 1 {
                // One point: scale proportionally for prefill, flat for decode.
                let (t0, ..) = curve[0];
                let v0 = value(&curve[0]);
                return match phase {
                    Phase::Prefill if t0 > 0.0 => v0 * tokens / t0,
                    _ => v0,
                };
            }
            let i = curve
                .windows(2)
                .position(|w| tokens <= w[1].0)
                .unwrap_or(curve.len() - 2);
            let (a, b) = (&curve[i], &curve[i + 1]);
            let (va, vb) = (value(a), value(b));
            if b.0 == a.0 {
                return va;
            }
            (va + (vb - va) * (tokens - a.0) / (b.0 - a.0)).max(0.0)
        };
        let latency_s = interpolate(&|p| p.1);
        let energy_j = if curve.iter().all(|p| p.2.is_some()) {
            interpolate(&|p| p.2.unwrap_or(0.0))
        } else {
            busy_power_w * latency_s
        };
        Some(Cost {
            latency_s,
            energy_j,
        })
    }

    /// Number of (layer, phase) curves.
    pub fn curves(&self) -> usize {
        self.curves.len()
    }
}

/// Weight bytes read when `tokens` tokens pass through the layer in one batch.
fn weight_bytes_read(layer: &LayerCost, tokens: f64) -> f64 {
    let all = (layer.param_bytes + layer.tied_param_bytes).max(layer.active_param_bytes);
    all.min(tokens * layer.active_param_bytes)
}

/// FLOP and bytes moved by the prefill of `prompt` tokens through `layer` (the roofline's
/// inputs). The head computes logits of the last prompt token only (as llama.cpp does).
pub fn prefill_work(layer: &LayerCost, prompt: usize) -> (f64, f64) {
    let p = prompt as f64;
    let computed = if layer.kind == LayerKind::Head {
        1.0
    } else {
        p
    };
    let flop = computed * layer.fwd_flop_per_token
        + layer.attn_flop_per_token_per_ctx * p * (p + 1.0) / 2.0;
    let bytes = weight_bytes_read(layer, computed) + p * layer.kv_bytes_per_token;
    (flop, bytes)
}

/// FLOP and bytes moved by one decode step with `context` tokens cached (the new token attends
/// to `context + 1` keys and reads the whole cache).
pub fn decode_work(layer: &LayerCost, context: usize) -> (f64, f64) {
    let keys = context as f64 + 1.0;
    let flop = layer.fwd_flop_per_token + layer.attn_flop_per_token_per_ctx * keys;
    let bytes = layer.active_param_bytes + layer.kv_bytes_per_token * keys;
    (flop, bytes)
}

/// FLOP and bytes moved by one pass of `tokens` new tokens through `layer` with `context`
/// tokens already cached, every token's output computed (the head too): the verification pass
/// of speculative decoding, or a chunk of prefill. `context` may be fractional (a mean
/// context). One token reads the weights once as a decode step does; `tokens` tokens read them
/// once too (one batched pass).
pub fn verify_work(layer: &LayerCost, context: f64, tokens: usize) -> (f64, f64) {
    let m = tokens as f64;
    let flop = m * layer.fwd_flop_per_token
        + layer.attn_flop_per_token_per_ctx * m * (context + (m + 1.0) / 2.0);
    let bytes = weight_bytes_read(layer, m) + layer.kv_bytes_per_token * (context + m);
    (flop, bytes)
}

/// The attention FLOP (scores and weighted sum) inside [`prefill_work`]'s FLOP.
pub fn prefill_attention_flop(layer: &LayerCost, prompt: usize) -> f64 {
    let p = prompt as f64;
    layer.attn_flop_per_token_per_ctx * p * (p + 1.0) / 2.0
}

/// The attention FLOP inside [`decode_work`]'s FLOP.
pub fn decode_attention_flop(layer: &LayerCost, context: usize) -> f64 {
    layer.attn_flop_per_token_per_ctx * (context as f64 + 1.0)
}

/// The attention FLOP inside [`verify_work`]'s FLOP.
pub fn verify_attention_flop(layer: &LayerCost, context: f64, tokens: usize) -> f64 {
    let m = tokens as f64;
    layer.attn_flop_per_token_per_ctx * m * (context + (m + 1.0) / 2.0)
}

/// Which weights a fine-tuning step trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Training {
    /// All weights (mixed-precision Adam).
    Full,
    /// Frozen weights plus LoRA adapters with this many trainable parameters in the layer.
    Lora {
        /// Adapter parameters of this layer.
        adapter_params: f64,
    },
}

/// Latency and energy of layers on one device.
#[derive(Debug, Clone)]
pub struct LayerTimer<'a> {
    /// The device.
    pub device: &'a Device,
    /// Its profiled table for this model, if any.
    pub profile: Option<&'a Profile>,
}

impl LayerTimer<'_> {
    /// Roofline cost of one layer evaluation in `phase` doing `flop` FLOP and moving `bytes`
    /// bytes: the work at the phase's efficiencies plus the runtime's fixed overhead of a layer
    /// (none without a runtime).
    pub fn roofline(&self, phase: Phase, flop: f64, bytes: f64) -> Cost {
        self.roofline_split(phase, flop, 0.0, bytes)
    }

    /// [`LayerTimer::roofline`] of work whose `flop` include `attention_flop` of attention
    /// (scores and weighted sum), which a runtime may run at another efficiency than the
    /// matrix products (`attention_factor`).
    pub fn roofline_split(&self, phase: Phase, flop: f64, attention_flop: f64, bytes: f64) -> Cost {
        let overhead = self
            .device
            .runtime
            .as_ref()
            .map_or(0.0, |r| r.overhead_per_layer_s(phase));
        let factor = self
            .device
            .runtime
            .as_ref()
            .map_or(1.0, |r| r.phase(phase).attention_factor);
        let work = self.work(phase, flop + (factor - 1.0) * attention_flop, bytes);
        let latency_s = work.latency_s + overhead;
        Cost {
            latency_s,
            energy_j: latency_s * self.device.power_busy_w,
        }
    }

    /// Roofline cost of a piece of a layer's work (no fixed overhead): `max(flop / (peak x
    /// compute efficiency), bytes / (bandwidth x memory efficiency))` at the efficiencies of
    /// `phase`.
    pub fn work(&self, phase: Phase, flop: f64, bytes: f64) -> Cost {
        let d = self.device;
        let (ce, me) = match &d.runtime {
            Some(r) => {
                let p = r.phase(phase);
                (p.compute_efficiency, p.memory_efficiency)
            }
            None => (d.compute_efficiency, d.memory_efficiency),
        };
        let compute = flop / (d.peak_flops * ce);
        let memory = bytes / (d.mem_bw_bytes_per_s * me);
        let latency_s = compute.max(memory);
        Cost {
            latency_s,
            energy_j: latency_s * d.power_busy_w,
        }
    }

    /// Prefill of `prompt` tokens. The head computes logits of the last prompt token only
    /// (as llama.cpp does), every other layer processes all of them.
    pub fn prefill(&self, layer: &LayerCost, prompt: usize) -> Cost {
        self.profiled_or_roofline(
            layer,
            Phase::Prefill,
            prompt,
            prefill_work,
            prefill_attention_flop,
        )
    }

    /// One decode step with `context` tokens already cached (the new token attends to
    /// `context + 1` keys and reads the whole cache).
    pub fn decode(&self, layer: &LayerCost, context: usize) -> Cost {
        self.profiled_or_roofline(
            layer,
            Phase::Decode,
            context,
            decode_work,
            decode_attention_flop,
        )
    }

    /// One pass of `tokens` new tokens through `layer` with `context` tokens cached, every
    /// token's output computed ([`verify_work`]): a speculative verification (`Phase::Decode`
    /// efficiencies) or a chunk of prefill after cached history (`Phase::Prefill`).
    pub fn pass(&self, phase: Phase, layer: &LayerCost, context: f64, tokens: usize) -> Cost {
        let (flop, bytes) = verify_work(layer, context, tokens);
        let attention = verify_attention_flop(layer, context, tokens);
        self.roofline_split(phase, flop, attention, bytes)
    }

    /// The profiled cost of `layer` in `phase` at `tokens` when the profile has it, else the
    /// roofline of `work(layer, tokens)`.
    fn profiled_or_roofline(
        &self,
        layer: &LayerCost,
        phase: Phase,
        tokens: usize,
        work: impl Fn(&LayerCost, usize) -> (f64, f64),
        attention: impl Fn(&LayerCost, usize) -> f64,
    ) -> Cost {
        let busy_power_w = self.device.power_busy_w;
        if let Some(c) = self
            .profile
            .and_then(|p| p.lookup(layer.layer, phase, tokens as f64, busy_power_w))
        {
            return c;
        }
        let (flop, bytes) = work(layer, tokens);
        self.roofline_split(phase, flop, attention(layer, tokens), bytes)
    }

    /// Sum of `steps` decode steps starting at context `prompt` (contexts prompt..prompt+steps).
    pub fn decode_steps(&self, layer: &LayerCost, prompt: usize, steps: usize) -> Cost {
        let mut total = Cost::default();
        for i in 0..steps {
            total += self.decode(layer, prompt + i);
        }
        total
    }

    /// Forward pass of a training step: `batch` sequences of `seq` tokens (all logits computed).
    pub fn train_forward(
        &self,
        layer: &LayerCost,
        batch: usize,
        seq: usize,
        training: Training,
    ) -> Cost {
        let (b, s) = (batch as f64, seq as f64);
        let tokens = b * s;
        let adapter = match training {
            Training::Lora { adapter_params } => 2.0 * adapter_params,
            Training::Full => 0.0,
        };
        let attention = b * layer.attn_flop_per_token_per_ctx * s * (s + 1.0) / 2.0;
        let flop = tokens * (layer.fwd_flop_per_token + adapter) + attention;
        let bytes = weight_bytes_read(layer, tokens);
        self.roofline_split(Phase::Prefill, flop, attention, bytes)
    }

    /// Backward pass of a training step. Full fine-tuning computes input and weight gradients
    /// (`bwd_flop_per_token`) and writes the gradients; LoRA computes input gradients only through
    /// the frozen weights (one forward's worth of matmul FLOP), plus the adapters' gradients
    /// (4 FLOP per adapter parameter per token). The frozen embedding needs no backward under
    /// LoRA. Attention backward is counted as twice its forward.
    pub fn train_backward(
        &self,
        layer: &LayerCost,
        batch: usize,
        seq: usize,
        training: Training,
    ) -> Cost {
        let (b, s) = (batch as f64, seq as f64);
        let tokens = b * s;
        let attn = 2.0 * b * layer.attn_flop_per_token_per_ctx * s * (s + 1.0) / 2.0;
        let (flop, bytes) = match training {
            Training::Full => (
                tokens * layer.bwd_flop_per_token + attn,
                2.0 * weight_bytes_read(layer, tokens),
            ),
            Training::Lora { .. } if layer.kind == LayerKind::Embed => (0.0, 0.0),
            Training::Lora { adapter_params } => (
                tokens * (layer.fwd_flop_per_token + 4.0 * adapter_params) + attn,
                weight_bytes_read(layer, tokens),
            ),
        };
        let attention = match training {
            Training::Lora { .. } if layer.kind == LayerKind::Embed => 0.0,
            _ => attn,
        };
        self.roofline_split(Phase::Prefill, flop, attention, bytes)
    }
}

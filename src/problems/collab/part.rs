//! The per-layer costs of a variant's rows on one device (prefill, passes of new tokens at a
//! mean context, weight and KV-cache bytes), shared by the pricing and the evaluator.

use crate::costs::device::Device;
use crate::costs::latency::{Cost, LayerTimer, Phase};
use crate::costs::table::LayerCost;

use super::Variant;

/// Layers `rows` of a variant on one device: the per-layer sums both the solvers' pricing and
/// the evaluator build their request times from.
pub struct Part<'a> {
    layers: &'a [LayerCost],
    timer: LayerTimer<'a>,
}

impl<'a> Part<'a> {
    /// Rows `rows` of `variant` on `device` (roofline; profiles are not used).
    pub fn new(variant: &'a Variant, device: &'a Device, rows: std::ops::Range<usize>) -> Self {
        Part {
            layers: &variant.table.layers[rows],
            timer: LayerTimer {
                device,
                profile: None,
            },
        }
    }

    /// Every row.
    pub fn whole(variant: &'a Variant, device: &'a Device) -> Self {
        Self::new(variant, device, 0..variant.table.layers.len())
    }

    /// Prefill of `prompt` tokens.
    pub fn prefill(&self, prompt: usize) -> Cost {
        let mut c = Cost::default();
        for l in self.layers {
            c += self.timer.prefill(l, prompt);
        }
        c
    }

    /// `times` passes of `tokens` new tokens each at the mean context `context`.
    pub fn passes(&self, context: f64, tokens: usize, times: f64) -> Cost {
        let mut c = Cost::default();
        for l in self.layers {
            c += self.timer.pass(Phase::Decode, l, context, tokens);
        }
        Cost {
            latency_s: c.latency_s * times,
            energy_j: c.energy_j * times,
        }
    }

    /// Prefill and `steps` decode steps at the mean context.
    pub fn answer(&self, prompt: usize, context: f64, steps: usize) -> Cost {
        let mut c = self.prefill(prompt);
        c += self.passes(context, 1, steps as f64);
        c
    }

    /// Weight bytes of the rows.
    pub fn weight_bytes(&self) -> f64 {
        self.layers.iter().map(|l| l.param_bytes).sum()
    }

    /// KV-cache bytes of `tokens` cached tokens.
    pub fn kv_bytes(&self, tokens: usize) -> f64 {
        tokens as f64
            * self
                .layers
                .iter()
                .map(|l| l.kv_bytes_per_token)
                .sum::<f64>()
    }
}

//! Architecture configs (`instances/models/<name>.toml`) and the standard decoder-only
//! transformer formulas that turn them into a per-layer [`CostTable`].
//!
//! Conventions (all per token, FLOP counted as 2 per multiply-accumulate):
//! - forward FLOP of a layer = 2 x its matmul parameters that a token touches (for MoE blocks:
//!   attention, router and the `experts_per_token` active experts);
//! - backward FLOP = 2 x forward (gradients with respect to inputs and to weights, Kaplan et al.
//!   2020, "Scaling Laws for Neural Language Models", section 2.1);
//! - attention FLOP that grow with context: `4 * heads * head_dim` per token per context token
//!   (scores `QK^T` and the weighted sum `AV`), kept in a separate column;
//! - activations and the KV cache are 16-bit for every weight dtype except fp32 (as in llama.cpp
//!   and vLLM defaults); KV bytes per token = `2 * kv_heads * head_dim * act_bytes` (GQA aware);
//! - training activation memory per block and token is `34 * hidden` bytes plus
//!   `5 * heads` bytes per context token (Korthikanti et al. 2022, "Reducing Activation
//!   Recomputation in Large Transformer Models", eq. 1, 16-bit activations, no recomputation).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::table::{CostTable, LayerCost, LayerKind};
use crate::error::{Error, Result};
use crate::limits;

/// Weight storage format. Byte sizes of the quantized formats are those of llama.cpp's block
/// formats (Q8_0: 34 bytes per 32 weights; Q4_0: 18 bytes per 32 weights).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats.
    Fp32,
    /// 16-bit floats (also stands for bf16).
    #[default]
    Fp16,
    /// 8-bit integers with a 16-bit scale per 32 weights (llama.cpp Q8_0, 8.5 bits/weight).
    Int8,
    /// 4-bit integers with a 16-bit scale per 32 weights (llama.cpp Q4_0, 4.5 bits/weight).
    Q4,
}

impl Dtype {
    /// Bytes per stored weight.
    pub fn weight_bytes(self) -> f64 {
        match self {
            Dtype::Fp32 => 4.0,
            Dtype::Fp16 => 2.0,
            Dtype::Int8 => 34.0 / 32.0,
            Dtype::Q4 => 18.0 / 32.0,
        }
    }

    /// Bytes per activation or KV-cache element.
    pub fn activation_bytes(self) -> f64 {
        match self {
            Dtype::Fp32 => 4.0,
            _ => 2.0,
        }
    }

    /// Parses `fp32|fp16|bf16|int8|q8|q4`.
    pub fn parse(text: &str) -> Option<Dtype> {
        match text.to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Some(Dtype::Fp32),
            "fp16" | "f16" | "bf16" => Some(Dtype::Fp16),
            "int8" | "q8" | "q8_0" => Some(Dtype::Int8),
            "q4" | "q4_0" | "int4" => Some(Dtype::Q4),
            _ => None,
        }
    }

    /// The canonical lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Fp16 => "fp16",
            Dtype::Int8 => "int8",
            Dtype::Q4 => "q4",
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// MLP type of a transformer block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MlpKind {
    /// Gated MLP with gate, up and down projections (Llama, Qwen, Mistral).
    Swiglu,
    /// Two-matrix MLP (GPT-2, OPT).
    Gelu,
}

/// Normalisation layer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// RMSNorm: a weight vector only.
    Rmsnorm,
    /// LayerNorm: weight and bias.
    Layernorm,
}

/// The architecture hyper-parameters of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchConfig {
    /// Number of transformer blocks.
    pub layers: usize,
    /// Model width d_model.
    pub hidden: usize,
    /// MLP inner width (per expert for MoE).
    pub intermediate: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (GQA); equal to `heads` for multi-head attention.
    pub kv_heads: usize,
    /// Width of one head; defaults to `hidden / heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Vocabulary size.
    pub vocab: usize,
    /// MLP type.
    pub mlp: MlpKind,
    /// Norm type.
    pub norm: NormKind,
    /// Whether the LM head shares the token-embedding matrix.
    #[serde(default)]
    pub tied_embeddings: bool,
    /// Rows of a learned absolute position table (0 for RoPE models).
    #[serde(default)]
    pub position_embeddings: usize,
    /// Biases on the q, k, v projections.
    #[serde(default)]
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    #[serde(default)]
    pub o_bias: bool,
    /// Biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Routed experts per block (1 = dense).
    #[serde(default = "one")]
    pub experts: usize,
    /// Routed experts a token is sent to (top-k).
    #[serde(default = "one")]
    pub experts_per_token: usize,
    /// Shared experts per MoE block: MLPs every token passes through besides its routed experts
    /// (DeepSeek-MoE: 2, Qwen1.5-MoE: 1). They belong to the block's dense part.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shared_experts: usize,
    /// MLP inner width of ONE shared expert (not of all of them together); defaults to
    /// `intermediate`, the width of a routed expert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_expert_intermediate: Option<usize>,
    /// A `hidden -> 1` gate (a sigmoid of one matmul row) scaling the shared experts' output
    /// (Qwen1.5-MoE).
    #[serde(default, skip_serializing_if = "is_false")]
    pub shared_expert_gate: bool,
    /// The first `dense_layers` blocks have one dense MLP of width `dense_intermediate` instead
    /// of experts (DeepSeek's `first_k_dense_replace`); the rest are MoE blocks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dense_layers: usize,
    /// MLP inner width of the dense blocks of an MoE model; required with `dense_layers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense_intermediate: Option<usize>,
    /// Norms on the queries and keys of every block (OLMoE): one over `heads * head_dim` and one
    /// over `kv_heads * head_dim` values, of the kind `norm`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub qk_norm: bool,
    /// Maximum context length the model supports.
    #[serde(default)]
    pub max_context: Option<usize>,
}

fn one() -> usize {
    1
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The parameters of one transformer block split into what every token uses (the dense part:
/// attention, norms, router, shared experts; the whole block for a dense block) and one routed
/// expert. `*_matmul` are matmul weights (2 forward FLOP per token each), `*_other` biases and
/// norm weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockShape {
    /// Matmul weights of the dense part.
    pub dense_matmul: u64,
    /// Biases and norm weights of the dense part.
    pub dense_other: u64,
    /// Routed experts (0 for a dense block).
    pub experts: usize,
    /// Routed experts per token (0 for a dense block).
    pub top_k: usize,
    /// Matmul weights of one routed expert.
    pub expert_matmul: u64,
    /// Biases of one routed expert.
    pub expert_other: u64,
}

impl BlockShape {
    /// Parameters of the dense part.
    pub fn dense_params(&self) -> u64 {
        self.dense_matmul + self.dense_other
    }

    /// Parameters of one routed expert.
    pub fn expert_params(&self) -> u64 {
        self.expert_matmul + self.expert_other
    }

    /// All parameters of the block.
    pub fn params(&self) -> u64 {
        self.dense_params() + self.experts as u64 * self.expert_params()
    }

    /// Parameters one token uses: the dense part and `top_k` experts.
    pub fn active_params(&self) -> u64 {
        self.dense_params() + self.top_k as u64 * self.expert_params()
    }

    /// Matmul weights one token uses.
    pub fn active_matmul(&self) -> u64 {
        self.dense_matmul + self.top_k as u64 * self.expert_matmul
    }
}

/// A model config file: architecture plus provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Short lower-case name, equal to the file stem.
    pub name: String,
    /// Human-readable name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Model family (free text).
    #[serde(default)]
    pub family: Option<String>,
    /// Tokenizer family: models that share one share their vocabulary token for token, so one
    /// can draft for another in speculative decoding (e.g. `llama3` for Llama-3-8B and
    /// Llama-3.2-1B). Absent: the model pairs with no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// Where the architecture numbers come from.
    pub source: String,
    /// Published total parameter count.
    #[serde(default)]
    pub published_params: Option<f64>,
    /// Where the published parameter count comes from.
    #[serde(default)]
    pub published_params_source: Option<String>,
    /// Published parameters used per token (MoE models' "active" or "activated" parameters).
    #[serde(default)]
    pub published_active_params: Option<f64>,
    /// Where the published active parameter count comes from.
    #[serde(default)]
    pub published_active_params_source: Option<String>,
    /// The architecture.
    pub architecture: ArchConfig,
}

/// Shapes `(d_in, d_out)` of the weight matrices a LoRA adapter can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoraTarget {
    /// Query projection.
    Q,
    /// Key projection.
    K,
    /// Value projection.
    V,
    /// Attention output projection.
    O,
    /// MLP gate projection (SwiGLU only).
    Gate,
    /// MLP up projection (GELU: the first matrix).
    Up,
    /// MLP down projection (GELU: the second matrix).
    Down,
}

impl LoraTarget {
    /// Parses `q|k|v|o|gate|up|down` (also the Hugging Face names `q_proj` etc.).
    pub fn parse(text: &str) -> Option<LoraTarget> {
        let t = text.trim_end_matches("_proj");
        match t {
            "q" => Some(LoraTarget::Q),
            "k" => Some(LoraTarget::K),
            "v" => Some(LoraTarget::V),
            "o" => Some(LoraTarget::O),
            "gate" => Some(LoraTarget::Gate),
            "up" | "fc" => Some(LoraTarget::Up),
            "down" | "proj" => Some(LoraTarget::Down),
            _ => None,
        }
    }
}

impl ArchConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden / self.heads.max(1))
    }

    /// Checks the config for consistency; `path` is only used in messages.
    pub fn validate(&self, path: &Path) -> Result<()> {
        // Every count is bounded before anything is allocated or multiplied: the table has
        // `layers + 2` rows, and with widths up to MAX_WIDTH the parameter counts below fit u64.
        let width = limits::MAX_WIDTH;
        let counts = [
            (
                "architecture.layers",
                self.layers,
                1,
                limits::MAX_LAYERS - 2,
            ),
            ("architecture.hidden", self.hidden, 1, width),
            ("architecture.intermediate", self.intermediate, 1, width),
            ("architecture.heads", self.heads, 1, width),
            ("architecture.kv_heads", self.kv_heads, 1, width),
            (
                "architecture.head_dim",
                self.head_dim.unwrap_or(1),
                1,
                width,
            ),
            ("architecture.vocab", self.vocab, 1, width),
            ("architecture.experts", self.experts, 1, width),
            (
                "architecture.experts_per_token",
                self.experts_per_token,
                1,
                width,
            ),
            ("architecture.shared_experts", self.shared_experts, 0, width),
            (
                "architecture.shared_expert_intermediate",
                self.shared_expert_intermediate.unwrap_or(1),
                1,
                width,
            ),
            (
                "architecture.dense_layers",
                self.dense_layers,
                0,
                limits::MAX_LAYERS - 2,
            ),
            (
                "architecture.dense_intermediate",
                self.dense_intermediate.unwrap_or(1),
                1,
                width,
            ),
            (
                "architecture.position_embeddings",
                self.position_embeddings,
                0,
                limits::MAX_TOKENS,
            ),
            (
                "architecture.max_context",
                self.max_context.unwrap_or(1),
                1,
                limits::MAX_TOKENS,
            ),
        ];
        for (field, value, min, max) in counts {
            let value = i64::try_from(value).unwrap_or(i64::MAX);
            limits::count(path, field, value, min, max)?;
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(Error::field(
                path,
                "architecture.kv_heads",
                format!(
                    "heads ({}) must be a multiple of kv_heads ({})",
                    self.heads, self.kv_heads
                ),
            ));
        }
        if self.head_dim.is_none() && !self.hidden.is_multiple_of(self.heads) {
            return Err(Error::field(
                path,
                "architecture.head_dim",
                "hidden is not a multiple of heads: give head_dim explicitly",
            ));
        }
        if self.experts_per_token > self.experts {
            return Err(Error::field(
                path,
                "architecture.experts_per_token",
                format!(
                    "{} active experts but only {} experts",
                    self.experts_per_token, self.experts
                ),
            ));
        }
        self.validate_moe(path)?;
        // The parameter count in floating point (cannot overflow) before the integer formulas:
        // an upper bound (every bias, LayerNorm-sized norms).
        let (h, e) = (self.hidden as f64, self.experts as f64);
        let q = self.heads as f64 * self.head_dim() as f64;
        let kv = self.kv_heads as f64 * self.head_dim() as f64;
        let mlp = |width: f64| 3.0 * h * width + 2.0 * width + h;
        let attention = 2.0 * h * q + 2.0 * h * kv + 3.0 * q + 4.0 * h + 2.0 * (q + kv);
        let moe_block = attention
            + e * (mlp(self.intermediate as f64) + h)
            + self.shared_experts as f64 * mlp(self.shared_intermediate() as f64)
            + h;
        let dense_block = attention + mlp(self.dense_intermediate.unwrap_or(0) as f64);
        let dense = self.dense_layers as f64;
        let total = (self.vocab as f64 + self.position_embeddings as f64) * h
            + dense * dense_block
            + (self.layers as f64 - dense) * moe_block
            + self.vocab as f64 * h
            + 2.0 * h;
        if !limits::PARAMS.contains(total) {
            return Err(Error::field(
                path,
                "architecture",
                format!(
                    "the architecture has about {total:e} parameters, more than {}",
                    limits::PARAMS.describe()
                ),
            ));
        }
        Ok(())
    }

    /// The consistency of the MoE fields (their ranges are checked by `validate`).
    fn validate_moe(&self, path: &Path) -> Result<()> {
        let dense_model = self.experts <= 1;
        let fail = |field: &str, message: String| {
            Err(Error::field(path, format!("architecture.{field}"), message))
        };
        if dense_model && self.shared_experts > 0 {
            return fail(
                "shared_experts",
                format!(
                    "{} shared experts in a dense model: shared experts need routed experts \
                     (experts > 1)",
                    self.shared_experts
                ),
            );
        }
        if dense_model && self.dense_layers > 0 {
            return fail(
                "dense_layers",
                format!(
                    "{} dense blocks in a dense model: dense_layers is for a mixture of experts \
                     (experts > 1)",
                    self.dense_layers
                ),
            );
        }
        if self.dense_layers > 0 && self.dense_layers >= self.layers {
            return fail(
                "dense_layers",
                format!(
                    "{} dense blocks but only {} blocks: at least one must be an MoE block",
                    self.dense_layers, self.layers
                ),
            );
        }
        if self.dense_layers > 0 && self.dense_intermediate.is_none() {
            return fail(
                "dense_intermediate",
                format!(
                    "missing: dense_layers = {} needs the MLP width of the dense blocks",
                    self.dense_layers
                ),
            );
        }
        if self.dense_layers == 0 && self.dense_intermediate.is_some() {
            return fail(
                "dense_intermediate",
                "given without dense_layers: no block is dense".into(),
            );
        }
        if self.shared_experts == 0 && self.shared_expert_intermediate.is_some() {
            return fail(
                "shared_expert_intermediate",
                "given without shared_experts".into(),
            );
        }
        if self.shared_experts == 0 && self.shared_expert_gate {
            return fail(
                "shared_expert_gate",
                "a gate on shared experts needs shared_experts > 0".into(),
            );
        }
        Ok(())
    }

    /// MLP width of one shared expert.
    pub fn shared_intermediate(&self) -> usize {
        self.shared_expert_intermediate.unwrap_or(self.intermediate)
    }

    /// Whether block `block` (0-based) routes tokens to experts.
    pub fn is_moe_block(&self, block: usize) -> bool {
        self.experts > 1 && block >= self.dense_layers
    }

    fn norm_params(&self) -> u64 {
        match self.norm {
            NormKind::Rmsnorm => self.hidden as u64,
            NormKind::Layernorm => 2 * self.hidden as u64,
        }
    }

    /// Attention parameters of one block: (matmul weights, biases and q/k norms).
    fn attention_params(&self) -> (u64, u64) {
        let h = self.hidden as u64;
        let q = (self.heads * self.head_dim()) as u64;
        let kv = (self.kv_heads * self.head_dim()) as u64;
        let weights = h * q + 2 * h * kv + q * h;
        let mut other = 0;
        if self.qkv_bias {
            other += q + 2 * kv;
        }
        if self.o_bias {
            other += h;
        }
        if self.qk_norm {
            let per_value = match self.norm {
                NormKind::Rmsnorm => 1,
                NormKind::Layernorm => 2,
            };
            other += per_value * (q + kv);
        }
        (weights, other)
    }

    /// Parameters of one MLP of inner width `width`: (matmul weights, biases).
    fn mlp_params(&self, width: usize) -> (u64, u64) {
        let h = self.hidden as u64;
        let i = width as u64;
        match self.mlp {
            MlpKind::Swiglu => (3 * h * i, if self.mlp_bias { 2 * i + h } else { 0 }),
            MlpKind::Gelu => (2 * h * i, if self.mlp_bias { i + h } else { 0 }),
        }
    }

    /// MLP parameters of one routed expert: (matmul weights, biases).
    pub(crate) fn expert_params(&self) -> (u64, u64) {
        self.mlp_params(self.intermediate)
    }

    /// Block `block` (0-based) split into its dense part and one routed expert.
    pub fn block_shape(&self, block: usize) -> BlockShape {
        let (attn_w, attn_other) = self.attention_params();
        let norms = 2 * self.norm_params();
        let mut shape = BlockShape {
            dense_matmul: attn_w,
            dense_other: attn_other + norms,
            experts: 0,
            top_k: 0,
            expert_matmul: 0,
            expert_other: 0,
        };
        if !self.is_moe_block(block) {
            // One dense MLP: the model's own, or the wider one of an MoE model's dense blocks.
            let width = if self.experts > 1 {
                self.dense_intermediate.unwrap_or(self.intermediate)
            } else {
                self.intermediate
            };
            let (w, b) = self.mlp_params(width);
            shape.dense_matmul += w;
            shape.dense_other += b;
            return shape;
        }
        let h = self.hidden as u64;
        // The router (hidden -> experts) and the shared experts run for every token.
        shape.dense_matmul += h * self.experts as u64;
        if self.shared_experts > 0 {
            let (w, b) = self.mlp_params(self.shared_intermediate());
            shape.dense_matmul += self.shared_experts as u64 * w;
            shape.dense_other += self.shared_experts as u64 * b;
            if self.shared_expert_gate {
                shape.dense_matmul += h;
            }
        }
        let (w, b) = self.expert_params();
        shape.experts = self.experts;
        shape.top_k = self.experts_per_token;
        shape.expert_matmul = w;
        shape.expert_other = b;
        shape
    }

    /// Total parameters of block `block` (0-based): with `dense_layers`, the first blocks differ
    /// from the rest.
    pub fn block_params_at(&self, block: usize) -> u64 {
        self.block_shape(block).params()
    }

    /// Total parameters of one block when all blocks are alike; with `dense_layers`, those of an
    /// MoE block (the last block). See [`ArchConfig::block_params_at`].
    pub fn block_params(&self) -> u64 {
        self.block_params_at(self.layers.saturating_sub(1))
    }

    /// Parameters of the embedding layer (token table plus learned positions).
    pub fn embed_params(&self) -> u64 {
        ((self.vocab + self.position_embeddings) * self.hidden) as u64
    }

    /// Parameters of the head: final norm plus the output matrix unless tied.
    pub fn head_params(&self) -> u64 {
        let matrix = if self.tied_embeddings {
            0
        } else {
            (self.vocab * self.hidden) as u64
        };
        self.norm_params() + matrix
    }

    /// Total unique parameters of the model.
    pub fn total_params(&self) -> u64 {
        let blocks: u64 = (0..self.layers).map(|b| self.block_params_at(b)).sum();
        self.embed_params() + blocks + self.head_params()
    }

    /// Parameters one token uses: embedding, head, and in every block its dense part and
    /// `experts_per_token` routed experts (equal to `total_params` for a dense model).
    pub fn active_params(&self) -> u64 {
        let blocks: u64 = (0..self.layers)
            .map(|b| self.block_shape(b).active_params())
            .sum();
        self.embed_params() + blocks + self.head_params()
    }

    /// Trainable parameters a LoRA adapter of rank `rank` adds to one block for the given
    /// targets (`rank * (d_in + d_out)` per adapted matrix; for MoE the MLP targets are adapted in
    /// every routed and shared expert). When blocks differ (`dense_layers`), the largest block's
    /// count: an upper bound for every block. See [`ArchConfig::lora_params_at`].
    pub fn lora_params_per_block(
        &self,
        rank: usize,
        targets: &[LoraTarget],
    ) -> Result<u64, String> {
        let first = self.lora_params_at(0, rank, targets)?;
        let last = self.lora_params_at(self.layers.saturating_sub(1), rank, targets)?;
        Ok(first.max(last))
    }

    /// Trainable parameters a LoRA adapter of rank `rank` adds to block `block` (0-based).
    pub fn lora_params_at(
        &self,
        block: usize,
        rank: usize,
        targets: &[LoraTarget],
    ) -> Result<u64, String> {
        let h = self.hidden;
        let q = self.heads * self.head_dim();
        let kv = self.kv_heads * self.head_dim();
        // The MLPs of the block: (inner width, copies).
        let mlps: Vec<(usize, usize)> = if !self.is_moe_block(block) {
            let width = if self.experts > 1 {
                self.dense_intermediate.unwrap_or(self.intermediate)
            } else {
                self.intermediate
            };
            vec![(width, 1)]
        } else {
            vec![
                (self.intermediate, self.experts),
                (self.shared_intermediate(), self.shared_experts),
            ]
        };
        let mut total = 0u64;
        for target in targets {
            let matrices: Vec<(usize, usize, usize)> = match target {
                LoraTarget::Q => vec![(h, q, 1)],
                LoraTarget::K => vec![(h, kv, 1)],
                LoraTarget::V => vec![(h, kv, 1)],
                LoraTarget::O => vec![(q, h, 1)],
                LoraTarget::Gate if self.mlp == MlpKind::Gelu => {
                    return Err("target `gate` does not exist in a GELU MLP".into())
                }
                LoraTarget::Gate | LoraTarget::Up => mlps.iter().map(|&(i, n)| (h, i, n)).collect(),
                LoraTarget::Down => mlps.iter().map(|&(i, n)| (i, h, n)).collect(),
            };
            for (d_in, d_out, copies) in matrices {
                // Saturating: a huge rank is reported by the caller's range check, never wrapped.
                let params = (rank as u64)
                    .saturating_mul((d_in + d_out) as u64)
                    .saturating_mul(copies as u64);
                total = total.saturating_add(params);
            }
        }
        Ok(total)
    }

    /// Builds the per-layer cost table (embed, each block, head) for weights stored as `dtype`.
    pub fn cost_table(&self, model: &str, dtype: Dtype) -> CostTable {
        let wb = dtype.weight_bytes();
        let ab = dtype.activation_bytes();
        let h = self.hidden as f64;
        let head_dim = self.head_dim() as f64;
        let heads = self.heads as f64;

        let mut layers = Vec::with_capacity(self.layers + 2);
        let embed_params = self.embed_params();
        layers.push(LayerCost {
            layer: 0,
            kind: LayerKind::Embed,
            params: embed_params,
            param_bytes: embed_params as f64 * wb,
            // A table lookup: no matmul FLOP.
            fwd_flop_per_token: 0.0,
            bwd_flop_per_token: 0.0,
            attn_flop_per_token_per_ctx: 0.0,
            out_bytes_per_token: h * ab,
            kv_bytes_per_token: 0.0,
            // Only the looked-up rows are read, one per token.
            active_param_bytes: h * wb,
            tied_param_bytes: 0.0,
            train_act_bytes_per_token: h * ab,
            train_act_bytes_per_token_per_ctx: 0.0,
        });

        for b in 0..self.layers {
            let shape = self.block_shape(b);
            let params = shape.params();
            // A token computes with the dense part and its top-k experts, and a decode token
            // reads their weights: everything except the experts it is not routed to.
            let fwd = 2.0 * shape.active_matmul() as f64;
            layers.push(LayerCost {
                layer: b + 1,
                kind: LayerKind::Block,
                params,
                param_bytes: params as f64 * wb,
                fwd_flop_per_token: fwd,
                bwd_flop_per_token: 2.0 * fwd,
                attn_flop_per_token_per_ctx: 4.0 * heads * head_dim,
                out_bytes_per_token: h * ab,
                kv_bytes_per_token: 2.0 * (self.kv_heads as f64) * head_dim * ab,
                active_param_bytes: shape.active_params() as f64 * wb,
                tied_param_bytes: 0.0,
                train_act_bytes_per_token: 34.0 * h * (ab / 2.0),
                train_act_bytes_per_token_per_ctx: 5.0 * heads * (ab / 2.0),
            });
        }

        let head_params = self.head_params();
        let head_fwd = 2.0 * (self.vocab * self.hidden) as f64;
        let tied_bytes = if self.tied_embeddings {
            (self.vocab * self.hidden) as f64 * wb
        } else {
            0.0
        };
        layers.push(LayerCost {
            layer: self.layers + 1,
            kind: LayerKind::Head,
            params: head_params,
            param_bytes: head_params as f64 * wb,
            fwd_flop_per_token: head_fwd,
            bwd_flop_per_token: 2.0 * head_fwd,
            attn_flop_per_token_per_ctx: 0.0,
            // The sampled token id (int32) leaves the head.
            out_bytes_per_token: 4.0,
            kv_bytes_per_token: 0.0,
            active_param_bytes: head_params as f64 * wb + tied_bytes,
            tied_param_bytes: tied_bytes,
            // fp32 logits for the loss plus the normed hidden state.
            train_act_bytes_per_token: self.vocab as f64 * 4.0 + h * ab,
            train_act_bytes_per_token_per_ctx: 0.0,
        });

        CostTable {
            model: model.to_string(),
            dtype: Some(dtype),
            layers,
        }
    }
}

impl ModelConfig {
    /// Reads and validates a model config file.
    pub fn load(path: &Path) -> Result<ModelConfig> {
        let text = crate::files::read_text(path)?;
        let config: ModelConfig = toml::from_str(&text).map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        config.architecture.validate(path)?;
        limits::PARAMS.check_opt(path, "published_params", config.published_params)?;
        limits::PARAMS.check_opt(
            path,
            "published_active_params",
            config.published_active_params,
        )?;
        if let (Some(active), Some(total)) =
            (config.published_active_params, config.published_params)
        {
            if active > total {
                return Err(Error::field(
                    path,
                    "published_active_params",
                    format!("{active:e} active parameters, more than the {total:e} in total"),
                ));
            }
        }
        Ok(config)
    }

    /// Finds `<dir>/<name>.toml`, or treats `name` as a path when it ends in `.toml`.
    pub fn resolve(models_dir: &Path, name: &str) -> Result<PathBuf> {
        if name.ends_with(".toml") {
            return Ok(PathBuf::from(name));
        }
        let path = models_dir.join(format!("{name}.toml"));
        if path.exists() {
            return Ok(path);
        }
        let mut known: Vec<String> = std::fs::read_dir(models_dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let p = e.path();
                        (p.extension()? == "toml")
                            .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                            .flatten()
                    })
                    .collect()
            })
            .unwrap_or_default();
        known.sort();
        Err(Error::Unknown {
            what: "model",
            name: name.to_string(),
            hint: if known.is_empty() {
                format!(
                    "no {} and no model configs in {}",
                    path.display(),
                    models_dir.display()
                )
            } else {
                format!("no {}; known models: {}", path.display(), known.join(", "))
            },
        })
    }
}

/// A small dense Llama-style architecture (SwiGLU, RMSNorm, no biases, vocabulary 1000) for
/// unit tests.
#[cfg(test)]
pub(crate) fn test_arch(
    hidden: usize,
    intermediate: usize,
    heads: usize,
    kv_heads: usize,
) -> ArchConfig {
    ArchConfig {
        layers: 4,
        hidden,
        intermediate,
        heads,
        kv_heads,
        head_dim: None,
        vocab: 1000,
        mlp: MlpKind::Swiglu,
        norm: NormKind::Rmsnorm,
        tied_embeddings: false,
        position_embeddings: 0,
        qkv_bias: false,
        o_bias: false,
        mlp_bias: false,
        experts: 1,
        experts_per_token: 1,
        shared_experts: 0,
        shared_expert_intermediate: None,
        shared_expert_gate: false,
        dense_layers: 0,
        dense_intermediate: None,
        qk_norm: false,
        max_context: None,
    }
}

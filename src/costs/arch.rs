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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
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
    /// Experts per block (1 = dense).
    #[serde(default = "one")]
    pub experts: usize,
    /// Active experts per token.
    #[serde(default = "one")]
    pub experts_per_token: usize,
    /// Maximum context length the model supports.
    #[serde(default)]
    pub max_context: Option<usize>,
}

fn one() -> usize {
    1
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
    /// Where the architecture numbers come from.
    pub source: String,
    /// Published total parameter count.
    #[serde(default)]
    pub published_params: Option<f64>,
    /// Where the published parameter count comes from.
    #[serde(default)]
    pub published_params_source: Option<String>,
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
        // The parameter count in floating point (cannot overflow) before the integer formulas.
        let (h, i, e) = (
            self.hidden as f64,
            self.intermediate as f64,
            self.experts as f64,
        );
        let q = self.heads as f64 * self.head_dim() as f64;
        let kv = self.kv_heads as f64 * self.head_dim() as f64;
        let block = 2.0 * h * q
            + 2.0 * h * kv
            + 3.0 * q
            + e * (3.0 * h * i + 2.0 * i + h)
            + h * e
            + 4.0 * h;
        let total = (self.vocab as f64 + self.position_embeddings as f64) * h
            + self.layers as f64 * block
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

    fn norm_params(&self) -> u64 {
        match self.norm {
            NormKind::Rmsnorm => self.hidden as u64,
            NormKind::Layernorm => 2 * self.hidden as u64,
        }
    }

    /// Attention parameters of one block: (matmul weights, biases).
    fn attention_params(&self) -> (u64, u64) {
        let h = self.hidden as u64;
        let q = (self.heads * self.head_dim()) as u64;
        let kv = (self.kv_heads * self.head_dim()) as u64;
        let weights = h * q + 2 * h * kv + q * h;
        let mut biases = 0;
        if self.qkv_bias {
            biases += q + 2 * kv;
        }
        if self.o_bias {
            biases += h;
        }
        (weights, biases)
    }

    /// MLP parameters of one expert: (matmul weights, biases).
    pub(crate) fn expert_params(&self) -> (u64, u64) {
        let h = self.hidden as u64;
        let i = self.intermediate as u64;
        match self.mlp {
            MlpKind::Swiglu => (3 * h * i, if self.mlp_bias { 2 * i + h } else { 0 }),
            MlpKind::Gelu => (2 * h * i, if self.mlp_bias { i + h } else { 0 }),
        }
    }

    /// Total parameters of one block.
    pub fn block_params(&self) -> u64 {
        let (attn_w, attn_b) = self.attention_params();
        let (exp_w, exp_b) = self.expert_params();
        let experts = self.experts as u64;
        let router = if self.experts > 1 {
            (self.hidden * self.experts) as u64
        } else {
            0
        };
        attn_w + attn_b + experts * (exp_w + exp_b) + router + 2 * self.norm_params()
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
        self.embed_params() + self.layers as u64 * self.block_params() + self.head_params()
    }

    /// Trainable parameters a LoRA adapter of rank `rank` adds to one block for the given
    /// targets (`rank * (d_in + d_out)` per adapted matrix; for MoE the MLP targets are adapted in
    /// every expert).
    pub fn lora_params_per_block(
        &self,
        rank: usize,
        targets: &[LoraTarget],
    ) -> Result<u64, String> {
        let h = self.hidden;
        let q = self.heads * self.head_dim();
        let kv = self.kv_heads * self.head_dim();
        let i = self.intermediate;
        let mut total = 0u64;
        for target in targets {
            let (d_in, d_out, copies) = match target {
                LoraTarget::Q => (h, q, 1),
                LoraTarget::K => (h, kv, 1),
                LoraTarget::V => (h, kv, 1),
                LoraTarget::O => (q, h, 1),
                LoraTarget::Gate if self.mlp == MlpKind::Gelu => {
                    return Err("target `gate` does not exist in a GELU MLP".into())
                }
                LoraTarget::Gate | LoraTarget::Up => (h, i, self.experts),
                LoraTarget::Down => (i, h, self.experts),
            };
            // Saturating: a huge rank is reported by the caller's range check, never wrapped.
            let params = (rank as u64)
                .saturating_mul((d_in + d_out) as u64)
                .saturating_mul(copies as u64);
            total = total.saturating_add(params);
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

        let (attn_w, _) = self.attention_params();
        let (exp_w, _) = self.expert_params();
        let router = if self.experts > 1 {
            (self.hidden * self.experts) as f64
        } else {
            0.0
        };
        let active_matmul = attn_w as f64 + self.experts_per_token as f64 * exp_w as f64 + router;
        let block_params = self.block_params();
        let active_fraction_bytes = {
            // Bytes one decode token reads: everything except the inactive experts.
            let inactive = (self.experts - self.experts_per_token) as f64 * exp_w as f64;
            (block_params as f64 - inactive) * wb
        };
        let fwd = 2.0 * active_matmul;
        for b in 0..self.layers {
            layers.push(LayerCost {
                layer: b + 1,
                kind: LayerKind::Block,
                params: block_params,
                param_bytes: block_params as f64 * wb,
                fwd_flop_per_token: fwd,
                bwd_flop_per_token: 2.0 * fwd,
                attn_flop_per_token_per_ctx: 4.0 * heads * head_dim,
                out_bytes_per_token: h * ab,
                kv_bytes_per_token: 2.0 * (self.kv_heads as f64) * head_dim * ab,
                active_param_bytes: active_fraction_bytes,
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
        max_context: None,
    }
}

//! Mixture-of-experts cost tables: each transformer block split into its dense part (attention,
//! norms, router, shared experts; the whole block for a dense block) and one routed expert, so a
//! placement can price the two apart (docs/moe.md).
//!
//! Conventions are those of [`super::arch`]: forward FLOP = 2 x the matmul parameters a token
//! touches; a decode token reads every weight of the dense part and of each expert it is routed
//! to. The dispatch message of one token is its hidden state (`hidden` x activation bytes): sent
//! to the node of an expert and, combined there, returned once.

use serde::Serialize;

use super::arch::{ArchConfig, Dtype};
use super::table::{LayerCost, LayerKind};

/// One transformer block of an MoE model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoeBlock {
    /// The block's row in the model's cost table (1-based: row 0 is the embedding).
    pub layer: usize,
    /// Routed experts (0 for a dense block).
    pub experts: usize,
    /// Experts a token is routed to (0 for a dense block).
    pub top_k: usize,
    /// The dense part: attention, norms, router, shared experts (a dense block: all of it).
    /// Its `layer` is the block's row.
    pub dense: LayerCost,
    /// One routed expert (zero FLOP and bytes for a dense block). Its `layer` is the block's row.
    pub expert: LayerCost,
    /// Bytes of one token's hidden state: what a dispatch sends and a combine returns.
    pub hidden_bytes: f64,
}

impl MoeBlock {
    /// Whether tokens are routed to experts in this block.
    pub fn is_moe(&self) -> bool {
        self.experts > 0
    }
}

/// An MoE model split into embedding, blocks (dense part + experts) and head.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoeTable {
    /// Model name.
    pub model: String,
    /// Weight dtype.
    pub dtype: Dtype,
    /// The embedding row of the cost table.
    pub embed: LayerCost,
    /// Every transformer block in order.
    pub blocks: Vec<MoeBlock>,
    /// The head row of the cost table.
    pub head: LayerCost,
}

impl MoeTable {
    /// Indices (into `blocks`) of the blocks with routed experts.
    pub fn moe_blocks(&self) -> Vec<usize> {
        (0..self.blocks.len())
            .filter(|&b| self.blocks[b].is_moe())
            .collect()
    }

    /// Total parameters: embedding, head, every block's dense part and all of its experts.
    pub fn total_params(&self) -> u64 {
        let blocks: u64 = self
            .blocks
            .iter()
            .map(|b| b.dense.params + b.experts as u64 * b.expert.params)
            .sum();
        self.embed.params + blocks + self.head.params
    }

    /// Parameters one token uses: embedding, head, every dense part and `top_k` experts per
    /// block (the "active parameters" model cards publish).
    pub fn active_params(&self) -> u64 {
        let blocks: u64 = self
            .blocks
            .iter()
            .map(|b| b.dense.params + b.top_k as u64 * b.expert.params)
            .sum();
        self.embed.params + blocks + self.head.params
    }
}

impl ArchConfig {
    /// The model's MoE table for weights stored as `dtype`. A dense model gives blocks without
    /// experts.
    pub fn moe_table(&self, model: &str, dtype: Dtype) -> MoeTable {
        let table = self.cost_table(model, dtype);
        let wb = dtype.weight_bytes();
        let ab = dtype.activation_bytes();
        let rows = &table.layers;
        let mut blocks = Vec::with_capacity(self.layers);
        for row in &rows[1..rows.len() - 1] {
            let (experts, top_k, expert_params, expert_matmul) = self.routed_expert(row.layer);
            let mut dense = row.clone();
            dense.params = row.params - experts as u64 * expert_params;
            dense.param_bytes = dense.params as f64 * wb;
            dense.fwd_flop_per_token = row.fwd_flop_per_token - 2.0 * top_k as f64 * expert_matmul;
            dense.bwd_flop_per_token = 2.0 * dense.fwd_flop_per_token;
            dense.active_param_bytes = dense.param_bytes;
            let fwd = 2.0 * expert_matmul;
            let expert = LayerCost {
                layer: row.layer,
                kind: LayerKind::Block,
                params: expert_params,
                param_bytes: expert_params as f64 * wb,
                fwd_flop_per_token: fwd,
                bwd_flop_per_token: 2.0 * fwd,
                attn_flop_per_token_per_ctx: 0.0,
                out_bytes_per_token: self.hidden as f64 * ab,
                kv_bytes_per_token: 0.0,
                active_param_bytes: expert_params as f64 * wb,
                tied_param_bytes: 0.0,
                train_act_bytes_per_token: 0.0,
                train_act_bytes_per_token_per_ctx: 0.0,
            };
            blocks.push(MoeBlock {
                layer: row.layer,
                experts,
                top_k,
                dense,
                expert,
                hidden_bytes: self.hidden as f64 * ab,
            });
        }
        MoeTable {
            model: model.to_string(),
            dtype,
            embed: rows[0].clone(),
            blocks,
            head: rows[rows.len() - 1].clone(),
        }
    }

    /// `(experts, top_k, parameters of one expert, its matmul parameters)` of the block in cost
    /// table row `layer`; `(0, 0, 0, 0)` for a dense block.
    fn routed_expert(&self, _layer: usize) -> (usize, usize, u64, f64) {
        if self.experts <= 1 {
            return (0, 0, 0, 0.0);
        }
        let (weights, biases) = self.expert_params();
        (
            self.experts,
            self.experts_per_token,
            weights + biases,
            weights as f64,
        )
    }
}

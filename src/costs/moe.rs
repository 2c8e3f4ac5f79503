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
    /// table row `layer` (1-based: block `layer - 1`); `(0, 0, 0, 0)` for a dense block (a dense
    /// model's, or one of the first `dense_layers` of an MoE model). Shared experts, the router
    /// and a shared-expert gate stay in the dense part.
    fn routed_expert(&self, layer: usize) -> (usize, usize, u64, f64) {
        let shape = self.block_shape(layer.saturating_sub(1));
        if shape.experts == 0 {
            return (0, 0, 0, 0.0);
        }
        (
            shape.experts,
            shape.top_k,
            shape.expert_params(),
            shape.expert_matmul as f64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::costs::arch::{test_arch, NormKind};

    /// Hidden 64, 4 heads of 16 with 2 KV heads, 8 routed experts of width 32 (top-2), 2 shared
    /// experts of width 48 behind a gate, a dense first block of width 256, q/k norms.
    fn full_moe() -> ArchConfig {
        let mut a = test_arch(64, 32, 4, 2);
        a.experts = 8;
        a.experts_per_token = 2;
        a.shared_experts = 2;
        a.shared_expert_intermediate = Some(48);
        a.shared_expert_gate = true;
        a.dense_layers = 1;
        a.dense_intermediate = Some(256);
        a.qk_norm = true;
        a.validate(std::path::Path::new("test")).unwrap();
        a
    }

    #[test]
    fn every_part_by_hand() {
        let a = full_moe();
        let t = a.moe_table("full", Dtype::Fp16);
        // Attention 64x64 (q) + 2 x 64x32 (k, v) + 64x64 (o); q/k norms 64 + 32; two norms.
        let (attn, qk, norms) = (12_288u64, 96u64, 128u64);
        let dense_block = attn + qk + norms + 3 * 64 * 256;
        let router = 64 * 8;
        let shared = 2 * 3 * 64 * 48;
        let gate = 64;
        let expert = 3 * 64 * 32;
        let moe_dense = attn + qk + norms + router + shared + gate;

        assert_eq!(t.moe_blocks(), vec![1, 2, 3]);
        let first = &t.blocks[0];
        assert_eq!((first.experts, first.top_k), (0, 0));
        assert_eq!(first.dense.params, dense_block);
        assert_eq!(first.expert.params, 0);
        assert_eq!(
            first.dense.fwd_flop_per_token,
            2.0 * (attn + 3 * 64 * 256) as f64
        );
        for block in &t.blocks[1..] {
            assert_eq!((block.experts, block.top_k), (8, 2));
            assert_eq!(block.dense.params, moe_dense);
            assert_eq!(block.expert.params, expert);
            // Attention, router, shared experts and gate run for every token.
            assert_eq!(
                block.dense.fwd_flop_per_token,
                2.0 * (attn + router + shared + gate) as f64
            );
            assert_eq!(block.expert.fwd_flop_per_token, 2.0 * expert as f64);
            assert_eq!(block.dense.param_bytes, 2.0 * moe_dense as f64);
            assert_eq!(block.dense.active_param_bytes, block.dense.param_bytes);
        }
        let ends = 2 * 1000 * 64 + 64;
        assert_eq!(
            t.total_params(),
            ends + dense_block + 3 * (moe_dense + 8 * expert)
        );
        assert_eq!(
            t.active_params(),
            ends + dense_block + 3 * (moe_dense + 2 * expert)
        );
        assert_eq!(t.total_params(), a.total_params());
        assert_eq!(t.active_params(), a.active_params());
        // The cost table's rows: the dense first block is smaller than the MoE blocks.
        let rows = a.cost_table("full", Dtype::Fp16).layers;
        assert_eq!(rows[1].params, dense_block);
        assert_eq!(rows[2].params, moe_dense + 8 * expert);
        assert_eq!(
            rows[2].active_param_bytes,
            2.0 * (moe_dense + 2 * expert) as f64
        );
    }

    #[test]
    fn mixtral_like_split() {
        let mut a = test_arch(64, 32, 4, 4);
        a.experts = 4;
        a.experts_per_token = 2;
        let t = a.moe_table("m", Dtype::Q4);
        let rows = a.cost_table("m", Dtype::Q4).layers;
        for (b, block) in t.blocks.iter().enumerate() {
            assert_eq!(block.layer, b + 1);
            assert_eq!(
                block.dense.params + 4 * block.expert.params,
                rows[b + 1].params
            );
            // Attention, two norms and the router.
            assert_eq!(block.dense.params, 4 * 64 * 64 + 2 * 64 + 64 * 4);
            assert_eq!(block.hidden_bytes, 128.0);
        }
    }

    #[test]
    fn dense_model_blocks_are_whole_rows() {
        let a = test_arch(64, 128, 4, 2);
        let t = a.moe_table("d", Dtype::Int8);
        let rows = a.cost_table("d", Dtype::Int8).layers;
        assert!(t.moe_blocks().is_empty());
        for (b, block) in t.blocks.iter().enumerate() {
            assert!(!block.is_moe());
            assert_eq!(block.dense, rows[b + 1]);
            assert_eq!(block.expert.params, 0);
            assert_eq!(block.expert.fwd_flop_per_token, 0.0);
        }
        assert_eq!(t.total_params(), t.active_params());
    }

    #[test]
    fn qk_norm_follows_the_norm_kind() {
        let mut a = test_arch(64, 128, 4, 2);
        let plain = a.block_params_at(0);
        a.qk_norm = true;
        // q: 4 x 16 = 64 values, k: 2 x 16 = 32.
        assert_eq!(a.block_params_at(0), plain + 96);
        a.norm = NormKind::Layernorm;
        let layernorm = a.clone();
        a.qk_norm = false;
        assert_eq!(layernorm.block_params_at(0), a.block_params_at(0) + 2 * 96);
        // Norm weights are not matmul weights: no FLOP.
        let rows = |x: &ArchConfig| x.cost_table("q", Dtype::Fp16).layers[1].fwd_flop_per_token;
        assert_eq!(rows(&layernorm), rows(&a));
    }
}

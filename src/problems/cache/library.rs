//! Model libraries with shared parameter blocks, derived from the per-layer cost tables.
//!
//! Every layer of a base model (embedding, each transformer block, head) is a **piece** of
//! `param_bytes` bytes. A model is a set of pieces:
//!
//! | variant | shared with its base's other models | its own |
//! |---|---|---|
//! | `base` | every layer | nothing |
//! | `lora` (rank r, targets) | every layer (the frozen backbone) | the adapter: `r (d_in + d_out)` parameters per adapted matrix and block, stored in fp16 |
//! | `top-layers` (k) | the embedding and the bottom `L - k` blocks | the top `k` blocks and the head |
//! | `full` | nothing | a copy of every layer |
//!
//! Pieces that belong to exactly the same set of models are merged into one **block** (a block
//! is stored or not as a whole, so splitting it would only add variables), so a library of many
//! variants of a few bases has a handful of blocks per model. With tied embeddings the shared
//! embedding also holds the output matrix; a `top-layers` head then owns only its final norm.

use std::collections::HashMap;

use super::{Block, LibraryModel, Variant};
use crate::costs::arch::{ArchConfig, Dtype, LoraTarget};
use crate::costs::table::CostTable;

/// Bytes per adapter parameter: adapters are kept in fp16 whatever the base's weight type.
pub const ADAPTER_BYTES_PER_PARAM: f64 = 2.0;

/// A base model of the library.
#[derive(Debug, Clone)]
pub struct BaseModel {
    /// Name, e.g. `llama-3.2-1b@q4`.
    pub name: String,
    /// Its architecture.
    pub arch: ArchConfig,
    /// Weight type.
    pub dtype: Dtype,
    /// Its per-layer cost table in that weight type.
    pub table: CostTable,
}

impl BaseModel {
    /// The base `config_name` with weights in `dtype`.
    pub fn new(config_name: &str, arch: ArchConfig, dtype: Dtype) -> BaseModel {
        let table = arch.cost_table(config_name, dtype);
        BaseModel {
            name: format!("{config_name}@{}", dtype.name()),
            arch,
            dtype,
            table,
        }
    }
}

/// A model to derive from a base.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Name.
    pub name: String,
    /// Index of the base.
    pub base: usize,
    /// How it derives from the base.
    pub variant: Variant,
}

/// One piece: a layer of a base shared by its users, or something a single model owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Piece {
    /// Layer `layer` of base `base`, as stored by every model that shares it.
    Shared { base: usize, layer: usize },
    /// Layer `layer` owned by model `model`.
    Own { model: usize, layer: usize },
    /// The LoRA adapter of model `model`.
    Adapter { model: usize },
}

/// Builds the blocks and models of a library; errors name the model (`models[i]`) and what is
/// wrong.
pub fn build(
    bases: &[BaseModel],
    specs: &[ModelSpec],
) -> Result<(Vec<Block>, Vec<LibraryModel>), String> {
    let mut pieces_of: Vec<Vec<(Piece, f64)>> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        pieces_of.push(model_pieces(bases, i, spec)?);
    }
    Ok(group_blocks(&pieces_of, bases, specs))
}

/// The pieces model `i` stores, with their bytes: its base's layers shared or owned as its
/// variant says, plus a LoRA adapter.
fn model_pieces(
    bases: &[BaseModel],
    i: usize,
    spec: &ModelSpec,
) -> Result<Vec<(Piece, f64)>, String> {
    let base = bases
        .get(spec.base)
        .ok_or_else(|| format!("models[{i}]: base index {} out of range", spec.base))?;
    let layers = &base.table.layers;
    let n = layers.len();
    let blocks = base.arch.layers;
    let shared = |l: usize| {
        (
            Piece::Shared {
                base: spec.base,
                layer: l,
            },
            layers[l].param_bytes,
        )
    };
    let own = |l: usize| (Piece::Own { model: i, layer: l }, layers[l].param_bytes);
    Ok(match &spec.variant {
        Variant::Base => (0..n).map(shared).collect(),
        Variant::Full => (0..n).map(own).collect(),
        Variant::TopLayers { layers: k } => {
            if *k == 0 || *k > blocks {
                return Err(format!(
                    "models[{i}] ({}): top-layers needs 1..={blocks} layers (the base has \
                     {blocks} blocks), got {k}",
                    spec.name
                ));
            }
            // Layers 0..=blocks-k (embedding and bottom blocks) shared; the top k blocks
            // (layers blocks-k+1..=blocks) and the head (layer blocks+1) owned.
            (0..n)
                .map(|l| if l <= blocks - k { shared(l) } else { own(l) })
                .collect()
        }
        Variant::Lora { rank, targets } => {
            let adapter = lora_adapter_bytes(base, i, spec, *rank, targets)?;
            let mut pieces: Vec<(Piece, f64)> = (0..n).map(shared).collect();
            pieces.push((Piece::Adapter { model: i }, adapter));
            pieces
        }
    })
}

/// Bytes of model `i`'s LoRA adapter of rank `rank` on `targets`, over every block of `base`.
fn lora_adapter_bytes(
    base: &BaseModel,
    i: usize,
    spec: &ModelSpec,
    rank: usize,
    targets: &[String],
) -> Result<f64, String> {
    if rank == 0 {
        return Err(format!(
            "models[{i}] ({}): LoRA rank must be >= 1",
            spec.name
        ));
    }
    if targets.is_empty() {
        return Err(format!(
            "models[{i}] ({}): LoRA needs at least one target",
            spec.name
        ));
    }
    let parsed = targets
        .iter()
        .map(|t| {
            LoraTarget::parse(t).ok_or_else(|| {
                format!(
                    "models[{i}] ({}): unknown LoRA target \"{t}\"; expected q, k, \
                     v, o, gate, up or down",
                    spec.name
                )
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let per_block = base
        .arch
        .lora_params_per_block(rank, &parsed)
        .map_err(|e| format!("models[{i}] ({}): {e}", spec.name))?;
    Ok(per_block as f64 * base.arch.layers as f64 * ADAPTER_BYTES_PER_PARAM)
}

/// Groups the models' pieces into blocks: pieces with the same holders form one block (bytes
/// summed), in order of first appearance; each model lists its blocks and their total bytes.
fn group_blocks(
    pieces_of: &[Vec<(Piece, f64)>],
    bases: &[BaseModel],
    specs: &[ModelSpec],
) -> (Vec<Block>, Vec<LibraryModel>) {
    // Which models hold each piece.
    let mut holders: HashMap<Piece, Vec<usize>> = HashMap::new();
    for (i, pieces) in pieces_of.iter().enumerate() {
        for (piece, _) in pieces {
            holders.entry(*piece).or_default().push(i);
        }
    }
    // Pieces with the same holders form one block, in order of first appearance.
    let mut block_of: HashMap<Vec<usize>, usize> = HashMap::new();
    let mut members: Vec<Vec<Piece>> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    let mut models = Vec::with_capacity(specs.len());
    for (i, pieces) in pieces_of.iter().enumerate() {
        let mut own_blocks = Vec::new();
        for (piece, bytes) in pieces {
            let key = holders[piece].clone();
            let j = *block_of.entry(key).or_insert_with(|| {
                blocks.push(Block {
                    name: String::new(),
                    bytes: 0.0,
                });
                members.push(Vec::new());
                blocks.len() - 1
            });
            if !members[j].contains(piece) {
                members[j].push(*piece);
                blocks[j].bytes += bytes;
            }
            own_blocks.push(j);
        }
        own_blocks.sort_unstable();
        own_blocks.dedup();
        let bytes = own_blocks.iter().map(|&j| blocks[j].bytes).sum::<f64>();
        models.push(LibraryModel {
            name: specs[i].name.clone(),
            base: specs[i].base,
            variant: specs[i].variant.clone(),
            blocks: own_blocks,
            bytes,
        });
    }
    // Model sizes are final only once every piece is in; recompute them.
    for model in &mut models {
        model.bytes = model.blocks.iter().map(|&j| blocks[j].bytes).sum();
    }
    for (j, block) in blocks.iter_mut().enumerate() {
        block.name = block_name(&members[j], bases, specs);
    }
    (blocks, models)
}

/// A readable name: `llama-3.2-1b@q4 shared L0-L12`, `chat-lora own adapter`,
/// `coder-top4 own L13-L17`.
fn block_name(pieces: &[Piece], bases: &[BaseModel], specs: &[ModelSpec]) -> String {
    let mut layers: Vec<usize> = Vec::new();
    let mut adapter = false;
    let mut owner = String::new();
    for piece in pieces {
        match *piece {
            Piece::Shared { base, layer } => {
                owner = format!("{} shared", bases[base].name);
                layers.push(layer);
            }
            Piece::Own { model, layer } => {
                owner = format!("{} own", specs[model].name);
                layers.push(layer);
            }
            Piece::Adapter { model } => {
                owner = format!("{} own", specs[model].name);
                adapter = true;
            }
        }
    }
    layers.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut start = 0;
    while start < layers.len() {
        let mut end = start;
        while end + 1 < layers.len() && layers[end + 1] == layers[end] + 1 {
            end += 1;
        }
        parts.push(if start == end {
            format!("L{}", layers[start])
        } else {
            format!("L{}-L{}", layers[start], layers[end])
        });
        start = end + 1;
    }
    if adapter {
        parts.push("adapter".into());
    }
    format!("{owner} {}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4-block toy architecture.
    fn toy() -> BaseModel {
        let arch = crate::costs::arch::test_arch(64, 256, 4, 4);
        BaseModel::new("toy", arch, Dtype::Fp16)
    }

    fn spec(name: &str, variant: Variant) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            base: 0,
            variant,
        }
    }

    /// Base, a LoRA variant, a top-2 fine-tune and a full fine-tune of one 4-block base: the
    /// embedding and blocks 1-2 are shared by base, LoRA and top-2; blocks 3-4 and the head by base
    /// and LoRA; the adapter, the top-2 copies and the full copy are owned.
    #[test]
    fn variants_share_the_expected_layers() {
        let base = toy();
        let total = base.table.total_param_bytes();
        let layer = |l: usize| base.table.layers[l].param_bytes;
        let specs = vec![
            spec("base", Variant::Base),
            spec(
                "lora",
                Variant::Lora {
                    rank: 8,
                    targets: vec!["q".into(), "v".into()],
                },
            ),
            spec("top2", Variant::TopLayers { layers: 2 }),
            spec("full", Variant::Full),
        ];
        let (blocks, models) = build(std::slice::from_ref(&base), &specs).unwrap();
        // Blocks: shared bottom (L0-L2), shared top (L3-L5), adapter, top2 own, full own.
        assert_eq!(blocks.len(), 5, "{blocks:?}");
        assert!((models[0].bytes - total).abs() < 1e-6);
        assert!((models[2].bytes - total).abs() < 1e-6);
        assert!((models[3].bytes - total).abs() < 1e-6);
        // Adapter: rank 8 x (64 + 64) per matrix, two matrices, four blocks, fp16.
        let adapter = 8.0 * 128.0 * 2.0 * 4.0 * 2.0;
        assert!((models[1].bytes - total - adapter).abs() < 1e-6);
        let shared_bottom = layer(0) + layer(1) + layer(2);
        let bottom = blocks
            .iter()
            .find(|b| b.name == "toy@fp16 shared L0-L2")
            .expect("bottom block");
        assert!((bottom.bytes - shared_bottom).abs() < 1e-6);
        assert!(blocks.iter().any(|b| b.name == "toy@fp16 shared L3-L5"));
        assert!(blocks.iter().any(|b| b.name == "lora own adapter"));
        assert!(blocks.iter().any(|b| b.name == "top2 own L3-L5"));
        assert!(blocks.iter().any(|b| b.name == "full own L0-L5"));
        // Base and LoRA share two blocks; base and full share none.
        let common = |a: &LibraryModel, b: &LibraryModel| {
            a.blocks.iter().filter(|j| b.blocks.contains(j)).count()
        };
        assert_eq!(common(&models[0], &models[1]), 2);
        assert_eq!(common(&models[0], &models[2]), 1);
        assert_eq!(common(&models[0], &models[3]), 0);
    }

    #[test]
    fn bad_variants_are_named() {
        let base = toy();
        let err = build(
            std::slice::from_ref(&base),
            &[spec("t", Variant::TopLayers { layers: 9 })],
        )
        .unwrap_err();
        assert!(
            err.contains("models[0] (t)") && err.contains("1..=4"),
            "{err}"
        );
        let err = build(
            &[base],
            &[spec(
                "l",
                Variant::Lora {
                    rank: 4,
                    targets: vec!["qq".into()],
                },
            )],
        )
        .unwrap_err();
        assert!(err.contains("unknown LoRA target \"qq\""), "{err}");
    }
}

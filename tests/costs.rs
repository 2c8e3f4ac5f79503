//! Cost tables: parameter counts against published figures, hand-checked per-layer numbers, CSV
//! round trip, and the measurement validation.

use std::path::Path;

use edgeplan::costs::table::CostTable;
use edgeplan::costs::validate::{compare, load_measurements, median_abs_error};
use edgeplan::costs::{DeviceCatalog, Dtype, LayerKind, ModelConfig};

fn config(name: &str) -> ModelConfig {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("instances/models");
    ModelConfig::load(&ModelConfig::resolve(&dir, name).unwrap()).unwrap()
}

fn check_published(name: &str) {
    let c = config(name);
    let published = c
        .published_params
        .expect("every shipped config cites a published count");
    let total = c
        .architecture
        .cost_table(&c.name, Dtype::Fp16)
        .total_params() as f64;
    let err = (total - published).abs() / published;
    assert!(
        err <= 0.01,
        "{name}: {total:.4e} vs published {published:.4e} ({:.2}%)",
        100.0 * err
    );
    assert!(
        !c.source.is_empty() && c.published_params_source.is_some(),
        "{name}: cite sources"
    );
}

macro_rules! published {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(#[test] fn $test() { check_published($name); })*
    };
}

published! {
    params_gpt2 => "gpt2",
    params_gpt2_medium => "gpt2-medium",
    params_gpt2_large => "gpt2-large",
    params_gpt2_xl => "gpt2-xl",
    params_opt_1_3b => "opt-1.3b",
    params_llama_2_7b => "llama-2-7b",
    params_llama_2_13b => "llama-2-13b",
    params_llama_2_70b => "llama-2-70b",
    params_llama_3_8b => "llama-3-8b",
    params_llama_3_2_1b => "llama-3.2-1b",
    params_llama_3_2_3b => "llama-3.2-3b",
    params_qwen2_5_0_5b => "qwen2.5-0.5b",
    params_qwen2_5_1_5b => "qwen2.5-1.5b",
    params_qwen2_5_7b => "qwen2.5-7b",
    params_tinyllama_1_1b => "tinyllama-1.1b",
    params_mistral_7b => "mistral-7b",
    params_phi_3_mini => "phi-3-mini",
    params_mixtral_8x7b => "mixtral-8x7b",
    params_qwen1_5_moe_a2_7b => "qwen1.5-moe-a2.7b",
    params_deepseek_moe_16b => "deepseek-moe-16b",
    params_olmoe_1b_7b => "olmoe-1b-7b",
}

#[test]
fn every_shipped_config_is_checked() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("instances/models");
    let count = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(
        count, 21,
        "a new model config needs its own params_* test above"
    );
}

/// Llama-2-7B by hand: 32 blocks of 4*4096^2 + 3*4096*11008 + 2*4096 parameters, MHA with 32
/// heads of 128, so the KV cache is 2 * 4096 values per token per block.
#[test]
fn llama_2_7b_block_by_hand() {
    let c = config("llama-2-7b");
    let t = c.architecture.cost_table(&c.name, Dtype::Fp16);
    assert_eq!(t.len(), 34);
    assert_eq!(t.layers[0].kind, LayerKind::Embed);
    assert_eq!(t.layers[33].kind, LayerKind::Head);
    let b = &t.layers[1];
    let params = 4 * 4096u64 * 4096 + 3 * 4096 * 11008 + 2 * 4096;
    assert_eq!(b.params, params);
    assert_eq!(b.param_bytes, 2.0 * params as f64);
    assert_eq!(b.kv_bytes_per_token, 2.0 * 4096.0 * 2.0);
    assert_eq!(b.out_bytes_per_token, 4096.0 * 2.0);
    // Matmul FLOP: 2 per weight of the projections; attention 4 * heads * head_dim per key.
    assert_eq!(b.fwd_flop_per_token, 2.0 * (params - 2 * 4096) as f64);
    assert_eq!(b.attn_flop_per_token_per_ctx, 4.0 * 4096.0);
    assert_eq!(b.bwd_flop_per_token, 2.0 * b.fwd_flop_per_token);
    // The head: final norm + 32000 x 4096 projection, output is a token id.
    assert_eq!(t.layers[33].params, 4096 + 32000 * 4096);
    assert_eq!(t.layers[33].out_bytes_per_token, 4.0);
}

/// GQA: Llama-3-8B has 8 KV heads of 128, so the KV cache is a quarter of MHA's.
#[test]
fn llama_3_8b_kv_cache_is_gqa_aware() {
    let c = config("llama-3-8b");
    let t = c.architecture.cost_table(&c.name, Dtype::Fp16);
    assert_eq!(t.layers[1].kv_bytes_per_token, 2.0 * 8.0 * 128.0 * 2.0);
    assert_eq!(t.layers[0].kv_bytes_per_token, 0.0);
}

/// Q4_0 stores 32 weights in 18 bytes, Q8_0 in 34.
#[test]
fn quantised_bytes() {
    let c = config("llama-2-7b");
    let fp16 = c.architecture.cost_table(&c.name, Dtype::Fp16);
    let q4 = c.architecture.cost_table(&c.name, Dtype::Q4);
    let int8 = c.architecture.cost_table(&c.name, Dtype::Int8);
    let p = fp16.layers[1].params as f64;
    assert!((q4.layers[1].param_bytes - p * 18.0 / 32.0).abs() < 1.0);
    assert!((int8.layers[1].param_bytes - p * 34.0 / 32.0).abs() < 1.0);
}

/// Tied embeddings (Qwen2.5-0.5B): the head adds no parameters but reads the embedding matrix.
#[test]
fn tied_head() {
    let c = config("qwen2.5-0.5b");
    assert!(c.architecture.tied_embeddings);
    let t = c.architecture.cost_table(&c.name, Dtype::Fp16);
    let head = t.layers.last().unwrap();
    assert_eq!(head.params, c.architecture.hidden as u64); // the final norm only
    assert_eq!(head.tied_param_bytes, 2.0 * (151_936.0 * 896.0));
}

#[test]
fn csv_round_trip() {
    let c = config("mistral-7b");
    let t = c.architecture.cost_table(&c.name, Dtype::Int8);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mistral.csv");
    t.write_csv(std::fs::File::create(&path).unwrap()).unwrap();
    let back = CostTable::read_csv(&path, "mistral-7b").unwrap();
    assert_eq!(back.len(), t.len());
    for (a, b) in back.layers.iter().zip(&t.layers) {
        assert_eq!(a.params, b.params);
        assert!((a.param_bytes - b.param_bytes).abs() <= 1e-9 * b.param_bytes.max(1.0));
        assert!(
            (a.fwd_flop_per_token - b.fwd_flop_per_token).abs()
                <= 1e-9 * b.fwd_flop_per_token.max(1.0)
        );
        assert_eq!(a.kind, b.kind);
    }
}

/// Every measurement row is predicted by the v1 model (the device rows alone), within the median
/// error docs/costs.md quotes for it.
#[test]
fn measurements_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("instances");
    let devices = root.join("devices.csv");
    let catalog = DeviceCatalog::load(&devices).unwrap();
    assert!(catalog.devices.len() >= 9);
    let rows = load_measurements(&root.join("measurements.csv")).unwrap();
    assert!(rows.len() >= 25);
    let cmp = compare(&rows, &root.join("models"), &catalog).unwrap();
    let median = median_abs_error(&cmp).unwrap();
    assert!(median < 0.15, "median absolute error {median}");
}

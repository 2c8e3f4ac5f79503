//! Mixture-of-experts cost tables: every shipped MoE config against its published total and
//! active parameter counts, the split of each block into dense part and routed experts, dense
//! blocks (dense models, DeepSeek's first block), hand-counted blocks, and the errors of bad MoE
//! fields.

use std::path::{Path, PathBuf};

use edgeplan::costs::moe::MoeTable;
use edgeplan::costs::{Dtype, LoraTarget, ModelConfig};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("instances/models")
}

fn config(name: &str) -> ModelConfig {
    ModelConfig::load(&ModelConfig::resolve(&models_dir(), name).unwrap()).unwrap()
}

/// Every shipped config, sorted by name.
fn all_configs() -> Vec<ModelConfig> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| ModelConfig::load(p).unwrap())
        .collect()
}

const DTYPES: [Dtype; 4] = [Dtype::Fp32, Dtype::Fp16, Dtype::Int8, Dtype::Q4];

/// Half a unit in the last significant digit of `published` as written in the config (2.8e9:
/// 0.05e9; 46.7e9: 0.05e9; 6.92e9: 0.005e9).
fn rounding(published: f64) -> f64 {
    let text = format!("{published:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap();
    let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    let exponent: i32 = exponent.parse().unwrap();
    0.5 * 10f64.powi(exponent - decimals)
}

/// Whether `computed` matches `published`: within 1%, or rounding to the published figure (a
/// count published with two significant digits, 2.8B, stands for anything in [2.75B, 2.85B]).
fn matches(computed: f64, published: f64) -> bool {
    let err = (computed - published).abs();
    err <= 0.01 * published || err <= rounding(published)
}

#[test]
fn rounding_of_published_figures() {
    assert!((rounding(2.8e9) - 0.05e9).abs() < 1.0);
    assert!((rounding(46.7e9) - 0.05e9).abs() < 1.0);
    assert!((rounding(6.92e9) - 0.005e9).abs() < 1.0);
    assert!((rounding(12.9e9) - 0.05e9).abs() < 1.0);
    assert!((rounding(1e9) - 0.5e9).abs() < 1.0);
    assert!(matches(2.829e9, 2.8e9));
    assert!(!matches(2.86e9, 2.8e9));
    assert!(matches(1.282e9, 1.3e9));
    assert!(!matches(46.0e9, 46.7e9));
}

/// Every shipped MoE config: total and active parameters against the published counts, from the
/// architecture and from the MoE table alike.
#[test]
fn moe_configs_match_published_counts() {
    let mut checked = Vec::new();
    for c in all_configs() {
        let a = &c.architecture;
        if a.experts <= 1 {
            continue;
        }
        let name = &c.name;
        let table = a.moe_table(name, Dtype::Fp16);
        assert_eq!(table.total_params(), a.total_params(), "{name}");
        assert_eq!(table.active_params(), a.active_params(), "{name}");
        let total = a.total_params() as f64;
        let active = a.active_params() as f64;
        let published = c.published_params.expect("published total");
        let published_active = c
            .published_active_params
            .unwrap_or_else(|| panic!("{name}: an MoE config cites published_active_params"));
        assert!(
            c.published_params_source.is_some() && c.published_active_params_source.is_some(),
            "{name}: cite sources"
        );
        assert!(
            matches(total, published),
            "{name}: total {total:.4e} vs published {published:.4e} ({:+.2}%)",
            100.0 * (total - published) / published
        );
        assert!(
            matches(active, published_active),
            "{name}: active {active:.4e} vs published {published_active:.4e} ({:+.2}%)",
            100.0 * (active - published_active) / published_active
        );
        assert!(active < total, "{name}");
        checked.push(name.clone());
    }
    assert_eq!(
        checked,
        [
            "deepseek-moe-16b",
            "mixtral-8x7b",
            "olmoe-1b-7b",
            "qwen1.5-moe-a2.7b"
        ]
    );
}

/// The exact counts, summed by hand from the config.json files.
#[test]
fn moe_counts_by_hand() {
    let h = 2048u64;
    let attention = 4 * h * h;
    let norms = 2 * h;
    let embed_and_head = |vocab: u64| 2 * vocab * h + h;

    // Qwen1.5-MoE-A2.7B: q/k/v biases, 60 experts of 3 x 2048 x 1408, router, one shared
    // expert of 3 x 2048 x 5632 and its 2048 -> 1 gate.
    let q = config("qwen1.5-moe-a2.7b").architecture;
    let expert = 3 * h * 1408;
    let dense = attention + 3 * h + norms + h * 60 + 3 * h * 5632 + h;
    assert_eq!(q.block_params_at(0), dense + 60 * expert);
    assert_eq!(q.block_params_at(0), 570_560_512);
    assert_eq!(q.block_shape(0).active_params(), dense + 4 * expert);
    assert_eq!(
        q.total_params(),
        24 * (dense + 60 * expert) + embed_and_head(151_936)
    );
    assert_eq!(q.total_params(), 14_315_784_192);
    assert_eq!(q.active_params(), 2_689_173_504);

    // DeepSeekMoE 16B: block 0 dense (MLP 10944), blocks 1..28 with 64 routed and 2 shared
    // experts of 1408.
    let d = config("deepseek-moe-16b").architecture;
    let expert = 3 * h * 1408;
    let first = attention + norms + 3 * h * 10944;
    let moe_dense = attention + norms + h * 64 + 2 * expert;
    assert_eq!(d.block_params_at(0), first);
    assert_eq!(d.block_params_at(1), moe_dense + 64 * expert);
    assert_eq!(d.block_params_at(27), moe_dense + 64 * expert);
    assert_eq!(d.block_params(), moe_dense + 64 * expert);
    assert_eq!(
        d.total_params(),
        first + 27 * (moe_dense + 64 * expert) + embed_and_head(102_400)
    );
    assert_eq!(d.total_params(), 16_375_728_128);
    assert_eq!(
        d.active_params(),
        first + 27 * (moe_dense + 6 * expert) + embed_and_head(102_400)
    );
    assert_eq!(d.active_params(), 2_828_650_496);

    // OLMoE-1B-7B: q_norm and k_norm of 2048 weights each, 64 experts of 3 x 2048 x 1024.
    let o = config("olmoe-1b-7b").architecture;
    let expert = 3 * h * 1024;
    let dense = attention + 2 * h + norms + h * 64;
    assert_eq!(o.block_params_at(0), dense + 64 * expert);
    assert_eq!(o.total_params(), 6_919_161_856);
    assert_eq!(o.active_params(), 1_282_017_280);

    // Mixtral-8x7B: GQA with 8 KV heads, 8 experts of 3 x 4096 x 14336, top-2.
    let m = config("mixtral-8x7b").architecture;
    assert_eq!(m.total_params(), 46_702_792_704);
    assert_eq!(m.active_params(), 12_879_925_248);
}

/// The MoE table's parts add up to the cost table's rows: parameters, bytes, FLOP and the bytes
/// a decode token reads, for every shipped model and weight type.
#[test]
fn moe_parts_add_up_to_the_cost_table() {
    for c in all_configs() {
        for dtype in DTYPES {
            let a = &c.architecture;
            let name = format!("{} {dtype}", c.name);
            let table = a.cost_table(&c.name, dtype);
            let moe: MoeTable = a.moe_table(&c.name, dtype);
            assert_eq!(moe.blocks.len(), a.layers, "{name}");
            assert_eq!(moe.embed, table.layers[0], "{name}");
            assert_eq!(moe.head, table.layers[a.layers + 1], "{name}");
            assert_eq!(moe.total_params(), table.total_params(), "{name}");
            for (b, block) in moe.blocks.iter().enumerate() {
                let row = &table.layers[b + 1];
                let (e, k) = (block.experts as f64, block.top_k as f64);
                let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.abs().max(1.0);
                assert_eq!(block.layer, row.layer, "{name}");
                assert_eq!(
                    block.dense.params + block.experts as u64 * block.expert.params,
                    row.params,
                    "{name} block {b}"
                );
                assert_eq!(row.params, a.block_params_at(b), "{name} block {b}");
                assert!(
                    close(
                        block.dense.param_bytes + e * block.expert.param_bytes,
                        row.param_bytes
                    ),
                    "{name} block {b}"
                );
                assert!(
                    close(
                        block.dense.fwd_flop_per_token + k * block.expert.fwd_flop_per_token,
                        row.fwd_flop_per_token
                    ),
                    "{name} block {b}"
                );
                assert!(
                    close(
                        block.dense.active_param_bytes + k * block.expert.active_param_bytes,
                        row.active_param_bytes
                    ),
                    "{name} block {b}"
                );
                assert!(block.top_k <= block.experts, "{name} block {b}");
                assert_eq!(block.is_moe(), a.is_moe_block(b), "{name} block {b}");
            }
        }
    }
}

/// A dense model: no block has experts, and the dense part is the whole row.
#[test]
fn dense_models_have_no_experts() {
    let mut dense_models = 0;
    for c in all_configs() {
        let a = &c.architecture;
        if a.experts > 1 {
            continue;
        }
        dense_models += 1;
        let table = a.cost_table(&c.name, Dtype::Fp16);
        let moe = a.moe_table(&c.name, Dtype::Fp16);
        assert!(moe.moe_blocks().is_empty(), "{}", c.name);
        assert_eq!(moe.active_params(), moe.total_params(), "{}", c.name);
        assert_eq!(a.active_params(), a.total_params(), "{}", c.name);
        for (b, block) in moe.blocks.iter().enumerate() {
            assert_eq!((block.experts, block.top_k), (0, 0), "{}", c.name);
            assert_eq!(block.dense, table.layers[b + 1], "{}", c.name);
            assert_eq!(block.expert.params, 0, "{}", c.name);
        }
    }
    assert!(dense_models >= 17);
}

/// DeepSeekMoE: the first block is dense (no experts, a 10944-wide MLP), the other 27 route
/// tokens to 6 of 64 experts with 2 shared experts and the router in the dense part.
#[test]
fn deepseek_first_block_is_dense() {
    let c = config("deepseek-moe-16b");
    let a = &c.architecture;
    let moe = a.moe_table(&c.name, Dtype::Fp16);
    let first = &moe.blocks[0];
    assert!(!first.is_moe());
    assert_eq!((first.experts, first.top_k), (0, 0));
    assert_eq!(first.dense.params, a.block_params_at(0));
    assert_eq!(moe.moe_blocks(), (1..28).collect::<Vec<_>>());
    let second = &moe.blocks[1];
    assert_eq!((second.experts, second.top_k), (64, 6));
    let h = 2048u64;
    let expert = 3 * h * 1408;
    assert_eq!(second.expert.params, expert);
    assert_eq!(second.dense.params, 4 * h * h + 2 * h + h * 64 + 2 * expert);
    // The dense first block computes with all its weights; an MoE block with its dense part and
    // 6 experts.
    let table = a.cost_table(&c.name, Dtype::Fp16);
    assert_eq!(
        table.layers[1].fwd_flop_per_token,
        2.0 * (4 * h * h + 3 * h * 10944) as f64
    );
    assert_eq!(
        table.layers[2].fwd_flop_per_token,
        2.0 * (4 * h * h + h * 64 + 2 * expert + 6 * expert) as f64
    );
    assert_eq!(
        table.layers[2].active_param_bytes,
        2.0 * (second.dense.params + 6 * expert) as f64
    );
    assert!(table.layers[1].params < table.layers[2].params);
}

/// Shared experts are active for every token: Qwen1.5-MoE's shared expert and its gate are in
/// the dense part, and the forward FLOP count them.
#[test]
fn shared_experts_are_always_active() {
    let c = config("qwen1.5-moe-a2.7b");
    let a = &c.architecture;
    let moe = a.moe_table(&c.name, Dtype::Fp16);
    let h = 2048u64;
    let shared = 3 * h * 5632 + h;
    let block = &moe.blocks[0];
    assert_eq!(
        block.dense.fwd_flop_per_token,
        2.0 * (4 * h * h + h * 60 + shared) as f64
    );
    assert_eq!(block.expert.fwd_flop_per_token, 2.0 * (3 * h * 1408) as f64);
    assert_eq!(moe.moe_blocks().len(), 24);
}

/// LoRA on the MLP adapts every routed and shared expert; with a dense first block, the larger
/// block's count.
#[test]
fn lora_counts_shared_experts_and_dense_blocks() {
    let (h, r) = (2048u64, 8usize);
    let d = config("deepseek-moe-16b").architecture;
    let up = [LoraTarget::Up];
    let first = d.lora_params_at(0, r, &up).unwrap();
    let later = d.lora_params_at(1, r, &up).unwrap();
    assert_eq!(first, 8 * (h + 10944));
    assert_eq!(later, 8 * (h + 1408) * (64 + 2));
    assert_eq!(d.lora_params_per_block(r, &up).unwrap(), later);
    let qv = [LoraTarget::Q, LoraTarget::V];
    assert_eq!(d.lora_params_per_block(r, &qv).unwrap(), 8 * 4 * h);

    let q = config("qwen1.5-moe-a2.7b").architecture;
    assert_eq!(
        q.lora_params_per_block(r, &[LoraTarget::Down]).unwrap(),
        8 * ((1408 + h) * 60 + (5632 + h))
    );
}

/// A dense config serializes without the MoE fields: existing files and instances keep their
/// text.
#[test]
fn dense_configs_serialize_without_moe_fields() {
    let a = config("llama-2-7b").architecture;
    let text = toml::to_string(&a).unwrap();
    for field in [
        "shared_expert",
        "dense_layers",
        "dense_intermediate",
        "qk_norm",
    ] {
        assert!(!text.contains(field), "{field} in\n{text}");
    }
    let d = config("deepseek-moe-16b").architecture;
    let text = toml::to_string(&d).unwrap();
    let back: edgeplan::costs::ArchConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, d);
}

/// A Mixtral-like base config; `extra` adds or overrides architecture lines, `top` top-level
/// lines.
fn moe_toml(top: &str, extra: &str) -> String {
    format!(
        "name = \"bad\"\nsource = \"test\"\n{top}\n[architecture]\nlayers = 4\nhidden = 256\n\
         intermediate = 512\nheads = 4\nkv_heads = 4\nvocab = 1000\nmlp = \"swiglu\"\n\
         norm = \"rmsnorm\"\n{extra}\n"
    )
}

fn load_text(text: &str) -> Result<ModelConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    ModelConfig::load(&path).map_err(|e| e.to_string())
}

#[test]
fn good_moe_fields_load() {
    let c = load_text(&moe_toml(
        "published_params = 1e8\npublished_active_params = 1e7",
        "experts = 8\nexperts_per_token = 2\nshared_experts = 2\nshared_expert_intermediate = 128\n\
         shared_expert_gate = true\ndense_layers = 3\ndense_intermediate = 1024\nqk_norm = true",
    ))
    .unwrap();
    let a = &c.architecture;
    assert_eq!(a.moe_table("x", Dtype::Fp16).moe_blocks(), vec![3]);
    // Without shared_expert_intermediate, shared experts are as wide as a routed one.
    let c = load_text(&moe_toml(
        "",
        "experts = 8\nexperts_per_token = 2\nshared_experts = 1",
    ))
    .unwrap();
    assert_eq!(c.architecture.shared_intermediate(), 512);
}

#[test]
fn bad_moe_fields_name_the_field() {
    let moe = "experts = 8\nexperts_per_token = 2\n";
    let cases: Vec<(String, &str)> = vec![
        (
            moe_toml(
                "",
                &format!("{moe}dense_layers = 4\ndense_intermediate = 64"),
            ),
            "architecture.dense_layers",
        ),
        (
            moe_toml(
                "",
                &format!("{moe}dense_layers = 5000\ndense_intermediate = 64"),
            ),
            "architecture.dense_layers",
        ),
        (
            moe_toml("", "dense_layers = 1\ndense_intermediate = 64"),
            "architecture.dense_layers",
        ),
        (
            moe_toml("", &format!("{moe}dense_layers = 1")),
            "architecture.dense_intermediate",
        ),
        (
            moe_toml("", &format!("{moe}dense_intermediate = 64")),
            "architecture.dense_intermediate",
        ),
        (
            moe_toml(
                "",
                &format!("{moe}dense_layers = 1\ndense_intermediate = 0"),
            ),
            "architecture.dense_intermediate",
        ),
        (
            moe_toml("", "shared_experts = 1"),
            "architecture.shared_experts",
        ),
        (
            moe_toml("", &format!("{moe}shared_experts = 2000000")),
            "architecture.shared_experts",
        ),
        (
            moe_toml("", &format!("{moe}shared_expert_gate = true")),
            "architecture.shared_expert_gate",
        ),
        (
            moe_toml("", &format!("{moe}shared_expert_intermediate = 64")),
            "architecture.shared_expert_intermediate",
        ),
        (
            moe_toml(
                "",
                &format!("{moe}shared_experts = 1\nshared_expert_intermediate = 0"),
            ),
            "architecture.shared_expert_intermediate",
        ),
        (
            moe_toml("", &format!("{moe}shared_experts = -1")),
            "shared_experts",
        ),
        (moe_toml("", &format!("{moe}qk_norm = 1")), "qk_norm"),
        (
            moe_toml(
                "",
                &format!("{moe}shared_experts = 1000000\nshared_expert_intermediate = 1000000"),
            ),
            "field `architecture`",
        ),
        (
            moe_toml("published_params = 1e8\npublished_active_params = 2e8", moe),
            "published_active_params",
        ),
        (
            moe_toml("published_active_params = -5.0", moe),
            "published_active_params",
        ),
        (
            moe_toml("", &format!("{moe}shared_expert = 1")),
            "shared_expert",
        ),
    ];
    for (text, field) in cases {
        let err = load_text(&text).expect_err(&text);
        assert!(err.contains(field), "expected `{field}` in: {err}\n{text}");
    }
}

/// `edgeplan costs` of an MoE model ends its CSV with `#` lines (the MoE section), which the
/// table's reader skips; a dense model's output has none.
#[test]
fn costs_cli_prints_the_moe_section() {
    let dir = tempfile::tempdir().unwrap();
    let run = |model: &str, file: &Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgeplan"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["costs", model, "--dtype", "q4", "-o"])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            std::fs::read_to_string(file).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let file = dir.path().join("deepseek.csv");
    let (csv, stderr) = run("deepseek-moe-16b", &file);
    let section: Vec<&str> = csv.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(section.len(), 4, "{csv}");
    assert!(section[0].contains("64 routed experts") && section[0].contains("top-6"));
    assert!(section[0].contains("2 shared experts") && section[0].contains("1 dense block"));
    assert!(section[1].starts_with("# row 1: dense, 84021248 params"));
    assert!(section[2].starts_with("# rows 2-28: MoE, dense part 34213888 params"));
    assert!(section[2].contains("64 experts of 8650752 params"));
    assert!(section[3].contains("active per token 2.8287e9 (+1.02% vs published 2.8000e9)"));
    assert!(stderr.contains("2.8287e9 active per token"), "{stderr}");
    let table = edgeplan::costs::CostTable::read_csv(&file, "deepseek-moe-16b").unwrap();
    assert_eq!(table.total_params(), 16_375_728_128);

    let file = dir.path().join("gpt2.csv");
    let (csv, stderr) = run("gpt2", &file);
    assert!(!csv.contains('#'), "{csv}");
    assert!(!stderr.contains("active"), "{stderr}");
}

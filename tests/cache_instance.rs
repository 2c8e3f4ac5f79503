//! Cache instance files: the shipped instances load and are exactly the generator's output for
//! their parameters, a file survives a round trip through TOML and JSON, request defaults behave
//! as documented, and bad files are refused with an error that names the field.

use edgeplan::instance::cache::generate::{generate, generate_spec, write_instance, GenParams};
use edgeplan::instance::cache::{load, CacheInstanceFile};
use edgeplan::problems::cache::zipf;

mod common;

use common::{data_path, instances};

/// The shipped instances in `instances/cache/` and the generator parameters of each.
pub fn shipped() -> Vec<(&'static str, GenParams)> {
    let base = GenParams::default();
    vec![
        (
            "cache-small",
            GenParams {
                servers: 2,
                models: 6,
                users: 12,
                seed: 1,
                bases: vec!["gpt2@fp16".into(), "qwen2.5-0.5b@q4".into()],
                storage_bytes: 0.6e9,
                latency_limit_s: (5.0, 60.0),
                name: Some("cache-small".into()),
                ..base.clone()
            },
        ),
        (
            "cache-4s-20m-50u",
            GenParams {
                seed: 4,
                ..base.clone()
            },
        ),
        (
            "cache-relay-4s-20m-50u",
            GenParams {
                seed: 5,
                backhaul_bps: Some(1e9),
                storage_bytes: 1.5e9,
                per_user_order: true,
                name: Some("cache-relay-4s-20m-50u".into()),
                ..base.clone()
            },
        ),
        (
            "cache-10s-100m-500u",
            GenParams {
                servers: 10,
                models: 100,
                users: 500,
                seed: 10,
                ..base.clone()
            },
        ),
        (
            "cache-20s-300m-1000u",
            GenParams {
                servers: 20,
                models: 300,
                users: 1000,
                seed: 20,
                storage_bytes: 8e9,
                ..base
            },
        ),
    ]
}

fn shipped_text(params: &GenParams) -> String {
    let file = generate_spec(params, &instances().join("models")).unwrap();
    write_instance(params, &file)
}

/// Rewrites the shipped instances from their parameters:
/// `cargo test --release --test cache_instance -- --ignored regenerate`.
#[test]
#[ignore]
fn regenerate_shipped_instances() {
    for (name, params) in shipped() {
        common::write_shipped("cache", name, &shipped_text(&params));
    }
}

#[test]
fn shipped_instances_are_the_generator_output_and_load() {
    let catalog = common::catalog();
    let files = common::shipped_files("cache", &["toml"]);
    assert_eq!(files.len(), shipped().len());
    for (name, params) in shipped() {
        let path = common::assert_shipped_is("cache", name, &shipped_text(&params));
        let problem = load(&path).unwrap();
        assert_eq!(problem.name, name, "the name is the file stem");
        assert_eq!(problem.servers.len(), params.servers);
        assert_eq!(problem.models.len(), params.models);
        assert_eq!(problem.users.len(), params.users);
        for user in &problem.users {
            let total: f64 = user.requests.iter().map(|r| r.1).sum();
            assert!((total - 1.0).abs() < 1e-9);
            assert_eq!(user.rate_bps.len(), params.servers);
        }
        // The file and the in-memory generator agree (the shipped files use profiles where
        // they exist, the generator the roofline; no shipped profile matches these devices).
        let generated = generate(&params, &catalog, &instances().join("models")).unwrap();
        assert_eq!(generated.blocks, problem.blocks);
        assert_eq!(generated.models, problem.models);
        assert_eq!(generated.users, problem.users);
    }
}

/// TOML and JSON versions of one file load to the same problem.
#[test]
fn toml_and_json_round_trip() {
    let params = GenParams {
        backhaul_bps: Some(2e9),
        per_user_order: true,
        ..GenParams::default()
    };
    let mut file = generate_spec(&params, &instances().join("models")).unwrap();
    file.models_dir = Some(data_path("models"));
    file.devices = Some(data_path("devices.csv"));
    let dir = tempfile::tempdir().unwrap();
    let toml_path = dir.path().join("a.toml");
    let json_path = dir.path().join("a.json");
    std::fs::write(&toml_path, file.to_toml()).unwrap();
    std::fs::write(&json_path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let a = load(&toml_path).unwrap();
    let b = load(&json_path).unwrap();
    assert_eq!(a, b);
    let back: CacheInstanceFile =
        toml::from_str(&std::fs::read_to_string(&toml_path).unwrap()).unwrap();
    assert_eq!(back, file);
}

/// A small file written by hand: LoRA adapter bytes, the shared order of Zipf requests, explicit
/// requests normalised, a user whose device cannot hold a model.
#[test]
fn hand_written_file_loads_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
problem = "cache"
models_dir = "{models}"
devices = "{devices}"

[requests]
zipf_skew = 1.0

[[bases]]
model = "qwen2.5-0.5b"
dtype = "q4"

[[models]]
name = "base"
base = "qwen2.5-0.5b@q4"
variant = "base"

[[models]]
name = "chat"
base = "qwen2.5-0.5b@q4"
variant = "lora"
rank = 16
targets = ["q", "v"]

[[models]]
name = "top"
base = "qwen2.5-0.5b@q4"
variant = "top-layers"
layers = 2

[[servers]]
name = "es-0"
storage_bytes = 1e9

[[users]]
device = "phone-sd8gen3"
prompt_tokens = 100
generate_tokens = 10
latency_limit_s = 30
rate_bps = {{ es-0 = 100e6 }}

[[users]]
device = "rpi5"
memory_bytes = 1e8
prompt_tokens = 100
generate_tokens = 10
latency_limit_s = 30
rate_bps = {{ es-0 = 100e6 }}
requests = {{ chat = 3, top = 1 }}
"#,
        models = data_path("models"),
        devices = data_path("devices.csv")
    );
    let problem = load(&common::write(dir.path(), "hand.toml", text)).unwrap();
    assert_eq!(problem.name, "hand");
    assert_eq!(problem.bases, vec!["qwen2.5-0.5b@q4".to_string()]);
    // Qwen2.5-0.5B: hidden 896, 14 query heads of 64 (q: 896 -> 896), 2 KV heads (v: 896 -> 128);
    // rank 16: 16 x (896 + 896) + 16 x (896 + 128) = 45 056 parameters per block, 24 blocks, fp16.
    let adapter = problem
        .blocks
        .iter()
        .find(|b| b.name == "chat own adapter")
        .unwrap();
    assert_eq!(adapter.bytes, 45_056.0 * 24.0 * 2.0);
    // Shared order: user 0 requests base, chat, top with Zipf(1) probabilities 6/11, 3/11, 2/11.
    let p = zipf(3, 1.0);
    assert_eq!(
        problem.users[0].requests,
        vec![(0, p[0]), (1, p[1]), (2, p[2])]
    );
    assert!((p[0] - 6.0 / 11.0).abs() < 1e-12);
    // Explicit requests are normalised; 100 MB of memory cannot hold the 0.5B model.
    assert_eq!(problem.users[1].requests, vec![(1, 0.75), (2, 0.25)]);
    assert_eq!(problem.users[1].inference_s, vec![None]);
    assert!(problem.users[0].inference_s[0].unwrap() > 0.0);
}

/// Bad files: the error names the file and field and says what was expected.
#[test]
fn bad_files_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let params = GenParams {
        servers: 2,
        models: 4,
        users: 3,
        ..GenParams::default()
    };
    let mut good = generate_spec(&params, &instances().join("models")).unwrap();
    good.models_dir = Some(data_path("models"));
    good.devices = Some(data_path("devices.csv"));
    let check = |file: &CacheInstanceFile, expected: &[&str]| {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, file.to_toml()).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
        for e in expected {
            assert!(err.contains(e), "`{e}` not in: {err}");
        }
    };
    let mut f = good.clone();
    f.models[1].base = "nope@q4".into();
    check(&f, &["models[1].base", "unknown base \"nope@q4\""]);
    let mut f = good.clone();
    f.models[2].variant = "half".into();
    check(
        &f,
        &[
            "models[2].variant",
            "expected base, lora, top-layers or full",
        ],
    );
    let mut f = good.clone();
    f.models[0].variant = "top-layers".into();
    f.models[0].layers = None;
    check(&f, &["models[0].layers", "missing"]);
    let mut f = good.clone();
    f.servers[1].storage_bytes = -1.0;
    check(&f, &["servers[1].storage_bytes", "[0, 1e15] bytes"]);
    let mut f = good.clone();
    f.users[2].rate_bps.insert("es-9".into(), 1e6);
    check(&f, &["users[2].rate_bps.es-9", "unknown server"]);
    let mut f = good.clone();
    f.users[0].latency_limit_s = 0.0;
    check(&f, &["users[0].latency_limit_s", "[1e-6, 1e7] s"]);
    let mut f = good.clone();
    f.users[1].device = "toaster".into();
    check(&f, &["users[1].device", "toaster"]);
    let mut f = good.clone();
    f.users[1].requests = Some([("ghost".to_string(), 1.0)].into_iter().collect());
    check(&f, &["users[1].requests.ghost", "unknown model"]);
    let mut f = good.clone();
    f.requests.as_mut().unwrap().order = Some("sorted".into());
    check(&f, &["requests.order", "shared or per-user"]);
    let mut f = good.clone();
    f.models[1].name = f.models[0].name.clone();
    check(&f, &["models[1].name", "already used"]);
    let mut f = good;
    f.servers.clear();
    check(&f, &["servers", "at least one"]);
}

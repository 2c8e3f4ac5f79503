//! Scratch probe: MILP and heuristic time on a synthetic many-user instance.
use edgeplan::costs::{DeviceCatalog, Dtype, ModelConfig};
use edgeplan::problems::alloc::solve::solve;
use edgeplan::problems::alloc::{AllocObjective, AllocProblem, Server, User};
use edgeplan::problems::split::{Rules, TierResource, Workload};
use edgeplan::solve::SolverPreset;
use rand::{Rng, SeedableRng};
use std::path::Path;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (k, blocks, obj) = (args[0], args[1], args[2]);
    let root = Path::new("instances");
    let catalog = DeviceCatalog::load(&root.join("devices.csv")).unwrap();
    let c = ModelConfig::load(&ModelConfig::resolve(&root.join("models"), "llama-3.2-3b").unwrap())
        .unwrap();
    let table = c.architecture.cost_table(&c.name, Dtype::Q4);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let users = (0..k)
        .map(|i| {
            let dev = ["phone-sd8gen3", "rpi5", "jetson-orin-nano-8gb"][rng.gen_range(0..3)];
            let snr = 10f64.powf(rng.gen_range(0.0..3.0));
            User {
                name: format!("u{i}"),
                table: table.clone(),
                model_key: "m".into(),
                workload: Workload::Inference {
                    prompt_tokens: rng.gen_range(64..512),
                    generate_tokens: rng.gen_range(8..32),
                },
                device: TierResource {
                    device: catalog.devices[dev].clone(),
                    memory_bytes: 4e9,
                    profile: None,
                    profile_path: None,
                },
                snr_up: vec![snr],
                snr_down: vec![snr * 4.0],
                deadline_s: None,
                weight: 1.0,
                rules: Rules::default(),
                tx_power_w: 0.2,
                rx_power_w: 0.1,
            }
        })
        .collect();
    let p = AllocProblem {
        name: "probe".into(),
        description: None,
        objective: [AllocObjective::MinMax, AllocObjective::Sum][obj],
        servers: vec![Server {
            name: "s".into(),
            device: catalog.devices["a100-80gb-sxm"].clone(),
            memory_bytes: 80e9,
            resource_blocks: blocks,
            rb_bandwidth_hz: 180e3,
            rtt_s: 0.01,
        }],
        users,
    };
    for name in ["local-search", "equal-split", "highs-1pct"] {
        let t = std::time::Instant::now();
        let r = solve(&p, &SolverPreset::builtin(name).unwrap()).unwrap();
        println!("{name}: {:?} obj {:?} bound {:?} gap {:?} rounds {} build {:.3} solve {:.3} total {:.3}s", r.stats.termination, r.stats.objective, r.stats.bound, r.stats.gap, r.rounds, r.stats.build_s, r.stats.solve_s, t.elapsed().as_secs_f64());
    }
}

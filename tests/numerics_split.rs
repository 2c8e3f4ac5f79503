//! Split instances at the corners of the valid input ranges (docs/input-ranges.md): HiGHS and the
//! exhaustive enumeration agree on every one, with finite objectives; and the out-of-range inputs
//! a fuzzer reported are exit-2 errors naming the field.

mod common;

use std::path::{Path, PathBuf};

use common::{data_path, edgeplan, preset};
use edgeplan::problems::split::solve::solve;
use edgeplan::solve::{PrimalStatus, RunOptions};

/// Devices at the ends of every devices.csv range, and a realistic one.
const DEVICES: &str = "\
device,class,peak_flops,mem_bw_bytes_per_s,memory_bytes,power_idle_w,power_busy_w,efficiency,tx_power_w,source
slowest,test,1e6,1e3,1e15,0,1e6,0.001,1e6,range corner
fastest,test,1e18,1e15,1e15,1e6,1e6,1,0,range corner
idle-hungry,test,1e18,1e15,1e15,1e6,0,1,1e6,range corner
jetson,test,10e12,68e9,8e9,5,15,0.7,2,realistic
tiny-memory,test,1e12,1e11,1,0,10,0.5,1,range corner
";

/// Cost tables at the ends of every column's range: the largest numbers everywhere (with a head
/// whose parameters take no bytes), and nothing at all.
const TABLES: [(&str, &str); 2] = [
    (
        "extreme.csv",
        "\
layer,kind,params,param_bytes,fwd_flop_per_token,bwd_flop_per_token,attn_flop_per_token_per_ctx,out_bytes_per_token,kv_bytes_per_token,active_param_bytes,tied_param_bytes,train_act_bytes_per_token,train_act_bytes_per_token_per_ctx
0,embed,1e14,1e15,0,0,0,1e15,0,1e15,0,1e15,0
1,block,1e14,1e15,1e15,1e15,1e15,1e15,1e15,1e15,0,1e15,1e15
2,block,1,1e-300,1e-300,0,0,1,1,1,0,1,0
3,head,1e14,0,1e15,1e15,0,4,0,1e15,1e15,1e15,0
",
    ),
    (
        "zero.csv",
        "\
layer,kind,params,param_bytes,fwd_flop_per_token,bwd_flop_per_token,attn_flop_per_token_per_ctx,out_bytes_per_token,kv_bytes_per_token
0,embed,0,0,0,0,0,0,0
1,block,0,0,0,0,0,0,0
2,head,0,0,0,0,0,0,0
",
    ),
];

/// A tiny deterministic generator (the test must not depend on a random crate's stream).
struct Lcg(u64);

impl Lcg {
    fn pick<'a, T>(&mut self, options: &'a [T]) -> &'a T {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        &options[((self.0 >> 33) % options.len() as u64) as usize]
    }
}

fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

/// Writes the devices and returns the instance header lines pointing at them.
fn header(dir: &Path) -> String {
    std::fs::write(dir.join("devices.csv"), DEVICES).unwrap();
    for (name, text) in TABLES {
        std::fs::write(dir.join(name), text).unwrap();
    }
    format!(
        "problem = \"split\"\nmodels_dir = \"{}\"\ndevices = \"{}\"\nprofiles_dir = \"{}\"\n",
        data_path("models"),
        dir.join("devices.csv").display(),
        dir.join("no-profiles").display()
    )
}

/// One corner instance drawn from `rng`.
fn corner(rng: &mut Lcg, header: &str, dir: &Path) -> String {
    let rates = ["1e3", "1e13", "50e6"];
    let rtts = ["0", "60", "0.01"];
    let powers = ["0", "1e6", "1"];
    let devices = ["slowest", "fastest", "idle-hungry", "jetson", "tiny-memory"];
    let mut text = header.to_string();
    let model = *rng.pick(&["gpt2", "llama-3.2-1b", "qwen2.5-0.5b", "extreme", "zero"]);
    let table = matches!(model, "extreme" | "zero");
    if table {
        let path = dir.join(format!("{model}.csv"));
        text += &format!("model = \"{}\"\n", path.display());
    } else {
        let dtype = rng.pick(&["fp32", "fp16"]);
        text += &format!("model = \"{model}\"\ndtype = \"{dtype}\"\n");
    }
    let workload = *rng.pick(&[0, 1, 2, 3, 4]);
    text += match workload {
        0 => "[workload]\nmode = \"inference\"\nprompt_tokens = 1\ngenerate_tokens = 0\n",
        1 => "[workload]\nmode = \"inference\"\nprompt_tokens = 1000\ngenerate_tokens = 24\n",
        2 => "[workload]\nmode = \"finetune\"\nbatch_size = 1000000\nseq_len = 1024\nsteps = 1000000\n",
        3 => "[workload]\nmode = \"finetune\"\nmethod = \"full\"\nbatch_size = 1\nseq_len = 1\n",
        _ => "[workload]\nmode = \"finetune\"\nbatch_size = 4\nseq_len = 512\nlora_rank = 1000000\n",
    };
    if table && (workload == 2 || workload == 4) {
        // No architecture to derive LoRA adapters from.
        text = text.replace("lora_rank = 1000000\n", "");
        text += "adapter_params_per_block = 1e14\n";
    }
    text += &format!("[device]\ndevice = \"{}\"\n", rng.pick(&devices));
    text += &format!("[edge]\ndevice = \"{}\"\n", rng.pick(&devices));
    text += &format!("[cloud]\ndevice = \"{}\"\n", rng.pick(&devices));
    for link in ["wireless", "backhaul"] {
        text += &format!(
            "[links.{link}]\nuplink_bps = {}\ndownlink_bps = {}\nrtt_s = {}\n",
            rng.pick(&rates),
            rng.pick(&rates),
            rng.pick(&rtts)
        );
        if link == "wireless" {
            text += &format!(
                "tx_power_w = {}\nrx_power_w = {}\n",
                rng.pick(&powers),
                rng.pick(&powers)
            );
        }
    }
    text += match *rng.pick(&[0, 1, 2, 3, 4]) {
        0 => "[objective]\nkind = \"latency\"\n",
        1 => "[objective]\nkind = \"energy\"\n",
        2 => "[objective]\nkind = \"weighted\"\nlatency_weight = 1e6\nenergy_weight = 1e-6\n",
        3 => "[objective]\nkind = \"weighted\"\nlatency_weight = 0\nenergy_weight = 1e6\n",
        _ => "[objective]\nkind = \"weighted\"\nlatency_weight = 1\nenergy_weight = 1\n",
    };
    text += "[constraints]\n";
    let limit = *rng.pick::<&str>(&[
        "",
        "deadline_s = 1e7\n",
        "deadline_s = 1e-6\n",
        "deadline_s = 1\n",
        "device_energy_budget_j = 1e12\n",
        "device_energy_budget_j = 1e-3\n",
        "embed_on_device = true\n",
    ]);
    text += limit;
    text
}

#[test]
fn highs_and_enumerate_agree_at_the_corners_of_the_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let header = header(dir.path());
    let (highs, exact) = (preset("highs"), preset("enumerate"));
    let mut rng = Lcg(7);
    let (mut feasible, mut infeasible) = (0, 0);
    for i in 0..1000 {
        let text = corner(&mut rng, &header, dir.path());
        let path = dir.path().join(format!("corner-{i}.toml"));
        std::fs::write(&path, &text).unwrap();
        let what = format!("corner {i}:\n{text}");
        // Every corner is a valid instance.
        let problem = edgeplan::instance::split::load(&path)
            .unwrap_or_else(|e| panic!("{what}: refused: {e}"));
        let a = solve(&problem, &highs, &RunOptions::default())
            .unwrap_or_else(|e| panic!("{what}: highs: {e}"));
        let b = solve(&problem, &exact, &RunOptions::default())
            .unwrap_or_else(|e| panic!("{what}: enumerate: {e}"));
        let plan_a = a.stats.primal_status == PrimalStatus::Feasible;
        let plan_b = b.stats.primal_status == PrimalStatus::Feasible;
        assert_eq!(
            plan_a, plan_b,
            "{what}: highs {:?} vs enumerate {:?}",
            a.stats, b.stats
        );
        if !plan_b {
            infeasible += 1;
            continue;
        }
        feasible += 1;
        let (ea, eb) = (a.evaluation.unwrap(), b.evaluation.unwrap());
        for v in [ea.objective, eb.objective, ea.latency_s, ea.energy_j] {
            assert!(v.is_finite(), "{what}: non-finite {v}");
        }
        assert!(ea.feasible(), "{what}: {:?}", ea.violations);
        assert!(
            rel_diff(ea.objective, eb.objective) <= 1e-6,
            "{what}: highs {} vs enumerate {}",
            ea.objective,
            eb.objective
        );
        let reported = a.stats.objective.unwrap();
        assert!(reported.is_finite(), "{what}");
    }
    eprintln!("{feasible} feasible, {infeasible} infeasible corner instances");
    assert!(feasible >= 50, "only {feasible} feasible corner instances");
}

/// The shipped llama2-7b-jetson instance with `from` replaced by `to`, written into `dir` with
/// absolute catalog paths.
fn variant(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(common::shipped_path("split", "llama2-7b-jetson")).unwrap();
    assert!(text.contains(from), "{from}");
    let text = text.replacen(from, to, 1).replacen(
        "problem = \"split\"\n",
        &format!(
            "problem = \"split\"\nmodels_dir = \"{}\"\ndevices = \"{}\"\nprofiles_dir = \"{}\"\n",
            data_path("models"),
            data_path("devices.csv"),
            data_path("profiles")
        ),
        1,
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `edgeplan args` and asserts exit code 2 with every one of `needles` in the error.
fn refused(args: &[&str], needles: &[&str]) {
    let out = edgeplan(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: no `{n}` in {stderr}");
    }
}

#[test]
fn reported_out_of_range_inputs_are_refused_with_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        (
            "rtt_s = 0.015",
            "rtt_s = 1e308",
            "links.wireless.rtt_s",
            "[0, 60] s",
        ),
        (
            "downlink_bps = 300e6",
            "downlink_bps = 1e-300",
            "links.wireless.downlink_bps",
            "[1000, 1e13] bit/s",
        ),
        (
            "uplink_bps = 1e9",
            "uplink_bps = 5e-324",
            "links.backhaul.uplink_bps",
            "[1000, 1e13] bit/s",
        ),
        (
            "uplink_bps = 50e6",
            "uplink_bps = 1e-300",
            "links.wireless.uplink_bps",
            "bit/s",
        ),
        (
            "rx_power_w = 0.8",
            "rx_power_w = 1e308",
            "links.wireless.rx_power_w",
            "[0, 1e6] W",
        ),
        (
            "deadline_s = 30.0",
            "deadline_s = 0",
            "constraints.deadline_s",
            "[1e-6, 1e7] s",
        ),
        (
            "generate_tokens = 128",
            "generate_tokens = 2147483648",
            "workload.generate_tokens",
            "10000000",
        ),
        (
            "memory_bytes = 12e9",
            "memory_bytes = 1e300",
            "edge.memory_bytes",
            "bytes",
        ),
    ];
    for (i, (from, to, field, range)) in cases.iter().enumerate() {
        let path = variant(d, &format!("case{i}"), from, to);
        for solver in ["highs", "highs-1pct", "enumerate"] {
            refused(
                &["solve", path.to_str().unwrap(), "--solver", solver],
                &[path.to_str().unwrap(), field, range],
            );
        }
    }
    // The weighted objective with an extreme radio power.
    let path = variant(
        d,
        "weighted",
        "kind = \"latency\"",
        "kind = \"weighted\"\nenergy_weight = 1.0",
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("rx_power_w = 0.8", "rx_power_w = 1e308");
    std::fs::write(&path, text).unwrap();
    refused(
        &["solve", path.to_str().unwrap()],
        &["links.wireless.rx_power_w"],
    );
}

#[test]
fn huge_architectures_and_token_counts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gpt2 = std::fs::read_to_string(common::instances().join("models/gpt2.toml")).unwrap();
    for (field, from, to) in [
        ("architecture.layers", "layers = 12", "layers = 2147483648"),
        ("architecture.hidden", "hidden = 768", "hidden = 4294967296"),
        (
            "architecture.vocab",
            "vocab = 50257",
            "vocab = 9223372036854775807",
        ),
        (
            "architecture",
            "layers = 12\nhidden = 768\nintermediate = 3072",
            "layers = 998\nhidden = 999996\nintermediate = 1000000",
        ),
    ] {
        assert!(gpt2.contains(from), "{from}");
        let models = d.join(field.replace('.', "-"));
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join("gpt2.toml"), gpt2.replace(from, to)).unwrap();
        refused(
            &["costs", "gpt2", "--models-dir", models.to_str().unwrap()],
            &["gpt2.toml", &format!("`{field}`")],
        );
    }
    // A measurement beyond MAX_TOKENS, and one beyond the model's context.
    let text = std::fs::read_to_string(common::instances().join("measurements.csv")).unwrap();
    for (tokens, needle) in [
        ("2147483648", "1..=10000000"),
        ("5000000", "maximum context"),
    ] {
        let mut lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .take(2)
            .collect();
        let row = lines[1].replacen(",512,", &format!(",{tokens},"), 1);
        assert_ne!(
            row, lines[1],
            "the first measurement is a 512-token prefill"
        );
        lines[1] = &row;
        let csv = d.join("measurements.csv");
        std::fs::write(&csv, lines.join("\n")).unwrap();
        let start = std::time::Instant::now();
        refused(
            &[
                "costs",
                "--validate",
                "--measurements",
                csv.to_str().unwrap(),
            ],
            &["measurements.csv", "line 2", "tokens", needle],
        );
        assert!(start.elapsed().as_secs() < 30);
    }
}

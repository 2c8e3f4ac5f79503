//! Numerics of the alloc, cache and green problems at the corners of their valid ranges, and the
//! bad inputs our fuzzer found: every reported case is an exit-2 error naming the field or option,
//! and every instance at the edge of the ranges loads, solves to a finite objective and, where a
//! brute force exists, the exact solve matches it.

use std::path::Path;

use edgeplan::instance::{alloc, cache, green};
use edgeplan::problems::alloc::AllocProblem;
use edgeplan::problems::cache::CacheProblem;
use edgeplan::problems::green::GreenProblem;
use edgeplan::solve::{PrimalStatus, Termination};

mod common;

use common::oracles::{alloc_brute_force, cache_brute_force, green_brute_force};

use common::{data_path, edgeplan, preset, write};

// ---------------------------------------------------------------------------------------------
// Instance text at the corners of the ranges.

/// An alloc instance: one server (`blocks` resource blocks of `rb_hz`, round trip `rtt` s) and
/// one user per entry of `users` (a TOML fragment of the user's own fields).
fn alloc_toml(objective: &str, server: &str, users: &[&str]) -> String {
    let mut text = format!(
        "problem = \"alloc\"\nmodels_dir = \"{}\"\ndevices = \"{}\"\nobjective = \"{objective}\"\n\n\
         [[servers]]\ndevice = \"l4\"\n{server}\n",
        data_path("models"),
        data_path("devices.csv"),
    );
    for (k, user) in users.iter().enumerate() {
        text.push_str(&format!(
            "\n[[users]]\nname = \"u{k}\"\ndevice = \"rpi5\"\nmodel = \"gpt2\"\ndtype = \"q4\"\n\
             mode = \"inference\"\nprompt_tokens = {}\ngenerate_tokens = 4\n{user}\n",
            64 * (k + 1)
        ));
    }
    text
}

/// The default server of [`alloc_toml`].
const SERVER: &str = "resource_blocks = 3\nrb_bandwidth_hz = 180e3\nrtt_s = 0.01";

/// A cache instance: two gpt2 variants on one server, users given as TOML fragments.
fn cache_toml(server: &str, users: &[&str]) -> String {
    let mut text = format!(
        "problem = \"cache\"\nmodels_dir = \"{}\"\ndevices = \"{}\"\n\n[[bases]]\n\
         model = \"gpt2\"\ndtype = \"q4\"\n\n[[models]]\nname = \"base\"\nbase = \"gpt2@q4\"\n\
         variant = \"base\"\n\n[[models]]\nname = \"chat\"\nbase = \"gpt2@q4\"\n\
         variant = \"lora\"\n\n[[servers]]\nname = \"es-0\"\n{server}\n",
        data_path("models"),
        data_path("devices.csv"),
    );
    for (k, user) in users.iter().enumerate() {
        text.push_str(&format!(
            "\n[[users]]\nname = \"u{k}\"\ndevice = \"rpi5\"\nprompt_tokens = 16\n\
             generate_tokens = 4\n{user}\n"
        ));
    }
    text
}

/// A green instance over `slots` slots of `slot_s` s: one server with the given extra fields,
/// jobs as TOML fragments.
fn green_toml(head: &str, server: &str, jobs: &[&str]) -> String {
    let mut text = format!(
        "problem = \"green\"\nmodels_dir = \"{}\"\ndevices = \"{}\"\n{head}\n\n\
         [[servers]]\nname = \"es-0\"\ndevice = \"l4\"\n{server}\n",
        data_path("models"),
        data_path("devices.csv"),
    );
    for (j, job) in jobs.iter().enumerate() {
        text.push_str(&format!(
            "\n[[jobs]]\nname = \"j{j}\"\nmodel = \"gpt2\"\n{job}\n"
        ));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The exact solves against the brute force of `common::oracles`.

/// The exact alloc solve against brute force: optimal (or infeasible) alike, objectives finite
/// and within 1e-5 relative, the heuristics never better and always finite.
fn check_alloc(name: &str, problem: &AllocProblem) -> bool {
    let opts = problem.options();
    let exact = if opts.options.iter().any(|o| o.is_empty()) {
        None
    } else {
        alloc_brute_force(problem, &opts)
    };
    let report = edgeplan::problems::alloc::solve::solve(problem, &preset("highs")).unwrap();
    match exact {
        None => {
            assert_eq!(report.stats.termination, Termination::Infeasible, "{name}");
            false
        }
        Some(opt) => {
            assert!(opt.is_finite() && opt >= 0.0, "{name}: brute force {opt}");
            assert_eq!(report.stats.termination, Termination::Optimal, "{name}");
            assert_eq!(report.stats.primal_status, PrimalStatus::Feasible, "{name}");
            let obj = report.stats.objective.unwrap();
            let bound = report.stats.bound.unwrap();
            assert!(
                obj.is_finite() && bound.is_finite(),
                "{name}: {obj} {bound}"
            );
            assert!(
                (obj - opt).abs() <= 1e-5 * opt.abs().max(1e-12),
                "{name}: MILP {obj} vs brute force {opt}"
            );
            assert!(
                bound <= opt * (1.0 + 1e-6) + 1e-12,
                "{name}: bound {bound} above {opt}"
            );
            for h in ["local-search", "equal-split", "all-device", "all-edge"] {
                let r = edgeplan::problems::alloc::solve::solve(problem, &preset(h)).unwrap();
                if let Some(o) = r.stats.objective {
                    assert!(o.is_finite(), "{name} {h}: {o}");
                    assert!(o >= opt * (1.0 - 1e-9), "{name}: {h} {o} beats {opt}");
                }
            }
            true
        }
    }
}

fn check_cache(name: &str, problem: &CacheProblem) {
    let optimum = cache_brute_force(problem).0;
    let report = edgeplan::problems::cache::solve::solve(problem, &preset("highs")).unwrap();
    assert_eq!(report.stats.termination, Termination::Optimal, "{name}");
    let hit = report.stats.objective.unwrap();
    assert!(hit.is_finite(), "{name}: {hit}");
    assert!(
        (hit - optimum).abs() <= 1e-9,
        "{name}: MILP {hit} vs brute force {optimum}"
    );
}

fn check_green(name: &str, problem: &GreenProblem) -> bool {
    let optimum = green_brute_force(problem);
    let report = edgeplan::problems::green::solve::solve(problem, &preset("highs")).unwrap();
    match optimum {
        None => {
            assert_eq!(report.stats.termination, Termination::Infeasible, "{name}");
            false
        }
        Some(best) => {
            assert!(best.is_finite(), "{name}: {best}");
            assert_eq!(report.stats.termination, Termination::Optimal, "{name}");
            let value = report.stats.objective.unwrap();
            assert!(value.is_finite(), "{name}: {value}");
            assert!(
                (value - best).abs() <= 1e-6 * best.abs().max(1e-9),
                "{name}: MILP {value} vs brute force {best}"
            );
            for h in ["greedy", "asap"] {
                let r = edgeplan::problems::green::solve::solve(problem, &preset(h)).unwrap();
                if let Some(v) = r.stats.objective {
                    assert!(v.is_finite(), "{name} {h}: {v}");
                    if r.stats.primal_status == PrimalStatus::Feasible {
                        assert!(v >= best - 1e-7 * best.abs().max(1e-9), "{name} {h}");
                    }
                }
            }
            true
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Corners of the valid ranges: finite, and exact = brute force.

#[test]
fn alloc_corners_match_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String)> = vec![
        (
            "lowest snr",
            alloc_toml("sum", SERVER, &["snr_db = -50", "snr_db = -50"]),
        ),
        (
            "highest snr",
            alloc_toml("min-max", SERVER, &["snr_db = 100", "snr_db = 100"]),
        ),
        (
            "mixed snr",
            alloc_toml("sum", SERVER, &["snr_db = -50", "snr_db = 100"]),
        ),
        (
            "tiny and huge weights",
            alloc_toml(
                "weighted-sum",
                SERVER,
                &["snr_db = 10\nweight = 1e-6", "snr_db = 10\nweight = 1e6"],
            ),
        ),
        (
            "smallest weights",
            alloc_toml(
                "weighted-sum",
                SERVER,
                &["snr_db = 10\nweight = 1e-6", "snr_db = -50\nweight = 1e-6"],
            ),
        ),
        (
            "tightest deadline",
            alloc_toml(
                "sum",
                SERVER,
                &["snr_db = 10\ndeadline_s = 1e-6", "snr_db = 10"],
            ),
        ),
        (
            "longest deadline",
            alloc_toml(
                "min-max",
                SERVER,
                &["snr_db = -50\ndeadline_s = 1e7", "snr_db = 0"],
            ),
        ),
        (
            "power extremes",
            alloc_toml(
                "sum",
                SERVER,
                &[
                    "snr_db = 5\ntx_power_w = 0\nrx_power_w = 0",
                    "snr_db = 5\ntx_power_w = 1e6\nrx_power_w = 1e6",
                ],
            ),
        ),
        (
            "narrowest blocks, longest round trip",
            alloc_toml(
                "sum",
                "resource_blocks = 2\nrb_bandwidth_hz = 1e3\nrtt_s = 60",
                &["snr_db = -50", "snr_db = 100"],
            ),
        ),
        (
            "widest blocks, no round trip",
            alloc_toml(
                "min-max",
                "resource_blocks = 2\nrb_bandwidth_hz = 1e10\nrtt_s = 0",
                &["snr_db = 100", "snr_db = -50"],
            ),
        ),
        (
            "least server memory",
            alloc_toml(
                "sum",
                &format!("{SERVER}\nmemory_bytes = 1"),
                &["snr_db = 10", "snr_db = 10"],
            ),
        ),
    ];
    for (name, text) in cases {
        let path = write(dir.path(), "corner.toml", &text);
        let problem = alloc::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let feasible = check_alloc(name, &problem);
        assert_eq!(feasible, name != "tightest deadline", "{name}");
    }
}

#[test]
fn cache_corners_match_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String)> = vec![
        (
            "slowest rates, longest limits",
            cache_toml(
                "storage_bytes = 1e15\nposition_m = [-1e7, 1e7]",
                &[
                    "latency_limit_s = 1e7\nrate_bps = { es-0 = 1e3 }",
                    "latency_limit_s = 1e7\nrate_bps = { es-0 = 1e3 }\nposition_m = [1e7, -1e7]",
                ],
            ),
        ),
        (
            "fastest rates, shortest limits",
            cache_toml(
                "storage_bytes = 4e9",
                &[
                    "latency_limit_s = 1e-6\nrate_bps = { es-0 = 1e13 }",
                    "latency_limit_s = 60\nrate_bps = { es-0 = 1e13 }",
                ],
            ),
        ),
        (
            "no storage, extreme request weights",
            cache_toml(
                "storage_bytes = 0",
                &[
                    "latency_limit_s = 60\nrate_bps = { es-0 = 1e9 }\nrequests = { base = 1e6, chat = 0 }",
                    "latency_limit_s = 60\nrate_bps = { es-0 = 0 }",
                ],
            ),
        ),
        (
            "extreme request weights",
            cache_toml(
                "storage_bytes = 1e9",
                &[
                    "latency_limit_s = 600\nrate_bps = { es-0 = 1e9 }\nrequests = { base = 1e6, chat = 1e-300 }",
                    "latency_limit_s = 600\nrate_bps = { es-0 = 1e9 }",
                ],
            ),
        ),
    ];
    for (name, text) in cases {
        for skew in ["0", "10"] {
            let text = text.replacen(
                "\n[[bases]]",
                &format!("\n[requests]\nzipf_skew = {skew}\n\n[[bases]]"),
                1,
            );
            let path = write(dir.path(), "corner.toml", &text);
            let problem = cache::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            check_cache(&format!("{name}, skew {skew}"), &problem);
        }
    }
}

#[test]
fn green_corners_match_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let inference = |requests: &str, release: usize, deadline: usize| {
        format!(
            "kind = \"inference\"\nrequests = {requests}\nprompt_tokens = 64\n\
             generate_tokens = 8\nrelease_slot = {release}\ndeadline_slot = {deadline}"
        )
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "shortest slots, one request",
            green_toml(
                "slot_s = 1e-3\nslots = 3\n[grid]\ncarbon = [0, 1e4, 5]\nprice = 1e4",
                "levels = [1e-3, 1.0]",
                &[&inference("1", 0, 3)],
            ),
        ),
        (
            "longest slots, most requests",
            green_toml(
                "slot_s = 1e7\nslots = 3\n[grid]\ncarbon = [1e4, 0, 1e4]\nprice = [0, 1e4, 0]",
                "levels = [0.5, 1.0]\nrenewable = [1e6, 0, 0]\nrenewable_scale = 1",
                &[&inference("10000000000", 0, 3)],
            ),
        ),
        (
            "slowest and fastest clock",
            green_toml(
                "slot_s = 1e-6\nslots = 3\n[grid]\ncarbon = [1, 2, 3]",
                "levels = [1e-320, 1.0]",
                &[&inference("1000000000000000", 0, 3), &inference("1", 1, 2)],
            ),
        ),
        (
            "cost objective, extreme prices and PV",
            green_toml(
                "objective = \"cost\"\nslot_s = 3600\nslots = 3\n[grid]\ncarbon = 100\n\
                 price = [1e4, 0, 1e4]",
                "renewable = [0, 1e6, 0]\nrenewable_scale = 1e-3",
                &[&inference("1000", 0, 3), &inference("10", 1, 3)],
            ),
        ),
        (
            "energy objective, fine-tuning at the token limits",
            green_toml(
                "objective = \"energy\"\nslot_s = 60\nslots = 3\n[grid]\ncarbon = 0",
                "memory_bytes = 1e15",
                &[
                    "kind = \"finetune\"\ntokens = 1\nrelease_slot = 0\ndeadline_slot = 2",
                    "kind = \"finetune\"\ntokens = 1e18\nepochs = 1000000\ndeadline_slot = 3",
                ],
            ),
        ),
    ];
    for (name, text) in cases {
        let path = write(dir.path(), "corner.toml", &text);
        let problem = green::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        // A quadrillion requests in slots of 1e-300 s, or 1e24 tokens of fine-tuning in three
        // minutes, cannot be done.
        let feasible = check_green(name, &problem);
        let hopeless = [
            "slowest and fastest clock",
            "energy objective, fine-tuning at the token limits",
        ];
        assert_eq!(feasible, !hopeless.contains(&name), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// The fuzzer's cases: exit 2, naming the field or option.

/// Runs the binary and asserts exit code 2 and that stderr names every one of `names`.
fn assert_bad_input(args: &[&str], names: &[&str]) {
    let out = edgeplan(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: expected exit 2, got {:?}\nstdout: {}\nstderr: {stderr}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    for name in names {
        assert!(stderr.contains(name), "{args:?}: `{name}` not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn bad_alloc_fields_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("snr_db = -1000", "users[0].snr_db"),
        ("snr_db = -300", "users[0].snr_db"),
        ("snr_db = 10\nweight = 0", "users[0].weight"),
        ("snr_db = 10\nweight = 5e-324", "users[0].weight"),
        ("snr_db = 10\nweight = inf", "users[0].weight"),
        ("snr_db = nan", "users[0].snr_db"),
        ("snr_db = [10, 1e300]", "users[0].snr_db"),
        (
            "snr_db = 10\ndownlink_snr_db = 101",
            "users[0].downlink_snr_db",
        ),
        ("snr_db = 10\ndeadline_s = 0", "users[0].deadline_s"),
        ("snr_db = 10\ndeadline_s = 1e300", "users[0].deadline_s"),
        ("snr_db = 10\ntx_power_w = 1e300", "users[0].tx_power_w"),
        ("snr_db = 10\nrx_power_w = -1", "users[0].rx_power_w"),
        ("snr_db = 10\nmemory_bytes = 1e300", "users[0].memory_bytes"),
    ];
    for (user, field) in cases {
        let text = alloc_toml("weighted-sum", SERVER, &[user]);
        let path = write(dir.path(), "bad.toml", &text);
        assert_bad_input(&["solve", path.to_str().unwrap()], &["bad.toml", field]);
    }
    let servers = [
        (
            "resource_blocks = 9223372036854775807\nrb_bandwidth_hz = 180e3\nrtt_s = 0.01",
            "servers[0].resource_blocks",
        ),
        (
            "resource_blocks = 3\nrb_bandwidth_hz = 1e-300\nrtt_s = 0.01",
            "servers[0].rb_bandwidth_hz",
        ),
        (
            "resource_blocks = 3\nrb_bandwidth_hz = 180e3\nrtt_s = 1e300",
            "servers[0].rtt_s",
        ),
        (
            "resource_blocks = 3\nrb_bandwidth_hz = 180e3\nrtt_s = 0.01\nmemory_bytes = 0",
            "servers[0].memory_bytes",
        ),
    ];
    for (server, field) in servers {
        let text = alloc_toml("sum", server, &["snr_db = 10"]);
        let path = write(dir.path(), "bad.toml", &text);
        assert_bad_input(&["solve", path.to_str().unwrap()], &["bad.toml", field]);
    }
}

#[test]
fn bad_alloc_plans_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = alloc_toml("sum", SERVER, &["snr_db = 10", "snr_db = 10"]);
    let instance = write(dir.path(), "ok.toml", &text);
    let instance = instance.to_str().unwrap();
    let plans = [
        (
            r#"{"users": [{"server": 0, "cut": 3, "resource_blocks": 1, "compute_share": 1e-300}, {"cut": 13}]}"#,
            "users[0].compute_share",
        ),
        (
            r#"{"users": [{"server": 0, "cut": 3, "resource_blocks": 18446744073709551615, "compute_share": 0.5}, {"cut": 13}]}"#,
            "users[0].resource_blocks",
        ),
        (
            r#"{"users": [{"cut": 13}]}"#,
            "the plan has 1 users, the instance 2",
        ),
        (
            r#"{"users": [{"server": 0, "cut": 3, "resource_blocks": 1, "compute_share": 1.5}, {"cut": 13}]}"#,
            "users[0].compute_share",
        ),
    ];
    for (plan, field) in plans {
        let path = write(dir.path(), "plan.json", plan);
        assert_bad_input(&["evaluate", instance, path.to_str().unwrap()], &[field]);
    }
}

#[test]
fn bad_cache_fields_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let user = "latency_limit_s = 60\nrate_bps = { es-0 = 1e8 }";
    let cases = [
        (
            "storage_bytes = 4e9\nposition_m = [inf, 0]",
            user,
            "servers[0].position_m[0]",
        ),
        (
            "storage_bytes = 4e9",
            "latency_limit_s = 60\nposition_m = [0, 1e308]",
            "users[0].position_m[1]",
        ),
        ("storage_bytes = 1e300", user, "servers[0].storage_bytes"),
        (
            "storage_bytes = 4e9",
            "latency_limit_s = 1e300",
            "users[0].latency_limit_s",
        ),
        (
            "storage_bytes = 4e9",
            "latency_limit_s = 60\nrate_bps = { es-0 = 1e-300 }",
            "users[0].rate_bps.es-0",
        ),
        (
            "storage_bytes = 4e9",
            "latency_limit_s = 60\nrate_bps = { es-0 = inf }",
            "users[0].rate_bps.es-0",
        ),
        (
            "storage_bytes = 4e9",
            "latency_limit_s = 60\nrequests = { base = 1e300 }",
            "users[0].requests.base",
        ),
        (
            "storage_bytes = 4e9",
            "latency_limit_s = 60\nmemory_bytes = 1e300",
            "users[0].memory_bytes",
        ),
    ];
    for (server, user, field) in cases {
        let text = cache_toml(server, &[user]);
        let path = write(dir.path(), "bad.toml", &text);
        assert_bad_input(&["solve", path.to_str().unwrap()], &["bad.toml", field]);
    }
    let text = cache_toml("storage_bytes = 4e9", &[user]).replacen(
        "\n[[bases]]",
        "\n[requests]\nzipf_skew = 1e300\n\n[[bases]]",
        1,
    );
    let path = write(dir.path(), "bad.toml", &text);
    assert_bad_input(
        &["solve", path.to_str().unwrap()],
        &["bad.toml", "requests.zipf_skew"],
    );
    let text = cache_toml("storage_bytes = 4e9", &[user]).replace(
        "variant = \"lora\"",
        "variant = \"lora\"\nrank = 9223372036854775807",
    );
    let path = write(dir.path(), "bad.toml", &text);
    assert_bad_input(
        &["solve", path.to_str().unwrap()],
        &["bad.toml", "models[1].rank"],
    );
}

#[test]
fn bad_green_fields_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let job = "kind = \"inference\"\nrequests = 10\nprompt_tokens = 64\ngenerate_tokens = 8\n\
               deadline_slot = 3";
    let head = |extra: &str| format!("slot_s = 3600\nslots = 3\n{extra}[grid]\ncarbon = 100");
    let cases: Vec<(String, String, String, &str)> = vec![
        (
            "slot_s = 1e308\nslots = 3\n[grid]\ncarbon = 100".into(),
            String::new(),
            job.into(),
            "slot_s",
        ),
        (
            "slot_s = 3600\nslots = 24000000000\n[grid]\ncarbon = 100".into(),
            String::new(),
            job.into(),
            "slots",
        ),
        (
            "slot_s = 3600\nslots = 3\n[grid]\ncarbon = [1, 2, 1e300]".into(),
            String::new(),
            job.into(),
            "grid.carbon[2]",
        ),
        (
            "slot_s = 3600\nslots = 3\n[grid]\ncarbon = 1\nprice = inf".into(),
            String::new(),
            job.into(),
            "grid.price",
        ),
        (
            head(""),
            "renewable = [1e300, 0, 0]".into(),
            job.into(),
            "servers[0].renewable[0]",
        ),
        (
            head(""),
            "renewable = [1e6, 0, 0]\nrenewable_scale = 1e3".into(),
            job.into(),
            "servers[0].renewable[0]",
        ),
        (
            head(""),
            "renewable_scale = 1e300".into(),
            job.into(),
            "servers[0].renewable_scale",
        ),
        (
            head(""),
            "levels = [0]".into(),
            job.into(),
            "servers[0].levels[0]",
        ),
        (
            head(""),
            "memory_bytes = inf".into(),
            job.into(),
            "servers[0].memory_bytes",
        ),
        (
            head(""),
            String::new(),
            job.replace("requests = 10", "requests = 9223372036854775807"),
            "jobs[0].requests",
        ),
        (
            head(""),
            String::new(),
            "kind = \"finetune\"\ntokens = 1e300\ndeadline_slot = 3".into(),
            "jobs[0].tokens",
        ),
        (
            head(""),
            String::new(),
            job.replace("prompt_tokens = 64", "prompt_tokens = 9223372036854775807"),
            "jobs[0].prompt_tokens",
        ),
    ];
    for (head, server, job, field) in cases {
        let text = green_toml(&head, &server, &[&job]);
        let path = write(dir.path(), "bad.toml", &text);
        assert_bad_input(&["solve", path.to_str().unwrap()], &["bad.toml", field]);
    }
    // A trace value out of range names the CSV line.
    write(
        dir.path(),
        "carbon.csv",
        "timestamp,value\n0,100\n1,1e300\n2,100\n",
    );
    let text = green_toml(
        "slot_s = 3600\nslots = 3\n[grid]\ncarbon = \"carbon.csv\"",
        "",
        &[job],
    );
    let path = write(dir.path(), "bad.toml", &text);
    assert_bad_input(&["solve", path.to_str().unwrap()], &["carbon.csv", "3"]);
}

#[test]
fn bad_generator_flags_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.toml");
    let out = out.to_str().unwrap();
    let max = u64::MAX.to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["cache", "--seed", "9223372036854775808"], "--seed"),
        (vec!["alloc", "--seed", "18446744073709551615"], "--seed"),
        (vec!["green", "--seed", "9223372036854775808"], "--seed"),
        (vec!["alloc", "--users", &max], "--users"),
        (vec!["alloc", "--servers", &max], "--servers"),
        (vec!["cache", "--users", &max], "--users"),
        (vec!["green", "--jobs", &max], "--jobs"),
        (vec!["green", "--slots", &max], "--slots"),
        (vec!["alloc", "--users", "4294967296"], "--users"),
        (vec!["cache", "--models", "4294967296"], "--models"),
        (vec!["green", "--slots", "24000000000"], "--slots"),
        (vec!["green", "--slot-s", "1e308"], "--slot-s"),
        (
            vec!["alloc", "--deadline-factor", "1e-320"],
            "--deadline-factor",
        ),
        (vec!["cache", "--spacing", "1e308"], "--spacing"),
        (vec!["alloc", "--spacing", "1e308"], "--spacing"),
        (vec!["alloc", "--rb-bandwidth", "1e-300"], "--rb-bandwidth"),
        (vec!["cache", "--bandwidth", "inf"], "--bandwidth"),
        (vec!["cache", "--zipf", "1e300"], "--zipf"),
        (vec!["green", "--load", "1e300"], "--load"),
    ];
    for (args, flag) in cases {
        let mut full = vec!["generate"];
        full.extend(&args);
        full.extend(["--out", out]);
        assert_bad_input(&full, &[flag]);
        assert!(!Path::new(out).exists(), "{args:?} wrote an instance");
    }
}

/// Generator parameters as a sweep gives them (no flag parsing): every count and range checked
/// before anything is allocated.
#[test]
fn generator_parameters_are_checked_before_allocating() {
    let green_params = green::generate::GenParams {
        slots: 24_000_000_000,
        ..Default::default()
    };
    let err = green_params.validate().unwrap_err().to_string();
    assert!(err.contains("slots"), "{err}");
    let green_params = green::generate::GenParams {
        jobs: 100_000,
        servers: 10_000,
        slots: 100_000,
        ..Default::default()
    };
    let err = green_params.validate().unwrap_err().to_string();
    assert!(err.contains("exceeds the limit"), "{err}");
    let cache_params = cache::generate::GenParams {
        users: 10_000,
        models: 10_000,
        servers: 1_000,
        ..Default::default()
    };
    let err = cache_params.validate().unwrap_err().to_string();
    assert!(err.contains("users x models x servers"), "{err}");
    let cache_params = cache::generate::GenParams {
        seed: u64::MAX,
        ..Default::default()
    };
    assert!(cache_params.validate().is_err());
    let alloc_params = alloc::generate::GenParams {
        users: usize::MAX,
        ..Default::default()
    };
    assert!(alloc_params.validate().is_err());
    let alloc_params = alloc::generate::GenParams {
        prompt_tokens: (1, usize::MAX),
        ..Default::default()
    };
    assert!(alloc_params.validate().is_err());
}

/// Whether every number in `value` is finite.
fn all_finite(value: &toml::Value) -> bool {
    match value {
        toml::Value::Float(x) => x.is_finite(),
        toml::Value::Array(list) => list.iter().all(all_finite),
        toml::Value::Table(table) => table.values().all(all_finite),
        _ => true,
    }
}

/// Generators at the edges of their ranges write instances that load (no NaN or inf), with the
/// largest valid seed round-tripping through TOML.
#[test]
fn generators_at_the_edges_write_valid_instances() {
    let dir = tempfile::tempdir().unwrap();
    let seed = i64::MAX.to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec![
            "alloc",
            "--users",
            "3",
            "--seed",
            &seed,
            "--radius",
            "1e7",
            "--spacing",
            "1e7",
        ],
        vec![
            "alloc",
            "--users",
            "3",
            "--deadline-factor",
            "1e-3",
            "--rb-bandwidth",
            "1e3",
        ],
        vec![
            "alloc",
            "--users",
            "3",
            "--deadline-factor",
            "1e3",
            "--rtt",
            "60",
        ],
        vec![
            "cache",
            "--servers",
            "2",
            "--models",
            "3",
            "--users",
            "3",
            "--seed",
            &seed,
        ],
        vec![
            "cache",
            "--servers",
            "4",
            "--models",
            "3",
            "--users",
            "3",
            "--spacing",
            "4e6",
            "--coverage",
            "1e7",
            "--bandwidth",
            "1e10",
            "--zipf",
            "10",
        ],
        vec![
            "green", "--jobs", "2", "--slots", "4", "--slot-s", "1e7", "--seed", &seed,
        ],
        vec![
            "green", "--jobs", "2", "--slots", "4", "--slot-s", "1e-6", "--load", "1e3",
        ],
    ];
    for (i, args) in runs.into_iter().enumerate() {
        let out = dir.path().join(format!("g{i}.toml"));
        let out = out.to_str().unwrap();
        let mut full = vec!["generate"];
        full.extend(&args);
        full.extend(["--out", out]);
        let run = edgeplan(&full);
        assert!(
            run.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = std::fs::read_to_string(out).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        assert!(all_finite(&value), "{args:?} wrote a non-finite number");
        let solved = edgeplan(&["solve", out, "--solver", "highs", "--json"]);
        let code = solved.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "{args:?}: solve exited {code:?}: {}",
            String::from_utf8_lossy(&solved.stderr)
        );
    }
}

/// Random mixes of the alloc corners (SNR, weight, block bandwidth, round trip, deadline,
/// powers, objective): the exact solve matches brute force on each.
#[test]
fn alloc_random_corners_match_brute_force() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut feasible = 0;
    for case in 0..100 {
        let mut pick = |list: &[&'static str]| list[rng.gen_range(0..list.len())];
        let server = format!(
            "resource_blocks = {}\nrb_bandwidth_hz = {}\nrtt_s = {}",
            pick(&["1", "2", "3"]),
            pick(&["1e3", "180e3", "1e10"]),
            pick(&["0", "0.01", "60"]),
        );
        let objective = pick(&["min-max", "sum", "weighted-sum"]);
        let users: Vec<String> = (0..2)
            .map(|_| {
                format!(
                    "snr_db = {}\nweight = {}\ntx_power_w = {}\n{}",
                    pick(&["-50", "0", "30", "100"]),
                    pick(&["1e-6", "1", "1e6"]),
                    pick(&["0", "0.2", "1e6"]),
                    pick(&[
                        "",
                        "",
                        "deadline_s = 1e7",
                        "deadline_s = 0.05",
                        "deadline_s = 1e-6"
                    ]),
                )
            })
            .collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let text = alloc_toml(objective, &server, &users);
        let path = write(dir.path(), "mix.toml", &text);
        let problem = alloc::load(&path).unwrap();
        feasible += usize::from(check_alloc(&format!("case {case}:\n{text}"), &problem));
    }
    assert!(feasible >= 30, "only {feasible} feasible mixes");
}

/// Random mixes of the green corners (slot length, clock levels, carbon, prices, PV, job sizes,
/// objective): the exact solve matches brute force on each.
#[test]
fn green_random_corners_match_brute_force() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut feasible = 0;
    for case in 0..60 {
        let mut pick = |list: &[&'static str]| list[rng.gen_range(0..list.len())];
        let head = format!(
            "objective = \"{}\"\nslot_s = {}\nslots = 3\nmigration = {}\n[grid]\n\
             carbon = [{}, {}, {}]\nprice = [{}, {}, {}]",
            pick(&["carbon", "energy", "cost"]),
            pick(&["1e-3", "60", "3600", "1e7"]),
            pick(&["true", "false"]),
            pick(&["0", "100", "1e4"]),
            pick(&["0", "100", "1e4"]),
            pick(&["0", "100", "1e4"]),
            pick(&["0", "0.2", "1e4"]),
            pick(&["0", "0.2", "1e4"]),
            pick(&["0", "0.2", "1e4"]),
        );
        let server = format!(
            "levels = {}\nrenewable = [{}, {}, {}]\nrenewable_scale = {}\ncan_sleep = {}",
            pick(&["[1.0]", "[1e-3, 1.0]", "[0.5, 1.0]"]),
            pick(&["0", "100", "1e6"]),
            pick(&["0", "100", "1e6"]),
            pick(&["0", "100", "1e6"]),
            pick(&["0", "1e-3", "1"]),
            pick(&["true", "false"]),
        );
        let jobs: Vec<String> = (0..2)
            .map(|_| {
                let release = rng.gen_range(0..2);
                let deadline = rng.gen_range(release + 1..=3);
                let mut pick = |list: &[&'static str]| list[rng.gen_range(0..list.len())];
                if pick(&["inference", "finetune"]) == "inference" {
                    format!(
                        "kind = \"inference\"\nrequests = {}\nprompt_tokens = 64\n\
                         generate_tokens = 8\nrelease_slot = {release}\ndeadline_slot = {deadline}",
                        pick(&["1", "1000", "1000000", "1000000000000000"]),
                    )
                } else {
                    format!(
                        "kind = \"finetune\"\ntokens = {}\nrelease_slot = {release}\n\
                         deadline_slot = {deadline}",
                        pick(&["1", "1e6", "1e12", "1e18"]),
                    )
                }
            })
            .collect();
        let jobs: Vec<&str> = jobs.iter().map(String::as_str).collect();
        let text = green_toml(&head, &server, &jobs);
        let path = write(dir.path(), "mix.toml", &text);
        let problem = green::load(&path).unwrap();
        feasible += usize::from(check_green(&format!("case {case}:\n{text}"), &problem));
    }
    assert!(feasible >= 8, "only {feasible} feasible mixes");
}

/// Random mixes of the cache corners (rates, limits, storage, skew, request weights): the exact
/// solve matches brute force on each.
#[test]
fn cache_random_corners_match_brute_force() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    for case in 0..60 {
        let mut pick = |list: &[&'static str]| list[rng.gen_range(0..list.len())];
        let server = format!("storage_bytes = {}", pick(&["0", "1e8", "2e8", "1e15"]));
        let skew = pick(&["0", "0.8", "10"]);
        let users: Vec<String> = (0..3)
            .map(|_| {
                let mut pick = |list: &[&'static str]| list[rng.gen_range(0..list.len())];
                format!(
                    "latency_limit_s = {}\nrate_bps = {{ es-0 = {} }}\n{}",
                    pick(&["1e-6", "1", "60", "1e7"]),
                    pick(&["0", "1e3", "1e8", "1e13"]),
                    pick(&[
                        "",
                        "requests = { base = 1e6, chat = 1e-6 }",
                        "requests = { chat = 1 }"
                    ]),
                )
            })
            .collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let text = cache_toml(&server, &users).replacen(
            "\n[[bases]]",
            &format!("\n[requests]\nzipf_skew = {skew}\n\n[[bases]]"),
            1,
        );
        let path = write(dir.path(), "mix.toml", &text);
        let problem = cache::load(&path).unwrap();
        check_cache(&format!("case {case}:\n{text}"), &problem);
    }
}

/// The green greedy on a long horizon (10 jobs, 2 servers, 2,400 slots): its tuning step used to
/// copy the schedule for every candidate move (479 s and 6.9 GB on this instance); it returns a
/// feasible plan with a finite objective.
#[test]
fn green_greedy_on_a_long_horizon() {
    use edgeplan::formulation::DataDir;
    use edgeplan::registry::ProblemKind;
    let catalog = common::catalog();
    let data = DataDir {
        dir: &common::instances(),
        catalog: &catalog,
    };
    let params = serde_json::json!({
        "jobs": 10, "servers": 2, "slots": 2400, "load": 0.25, "deadline_slack": 0.5
    });
    let instance = ProblemKind::Green
        .formulation()
        .generate(params, data)
        .unwrap();
    let solved = instance
        .solve(&preset("greedy"), &Default::default())
        .unwrap();
    assert!(solved.feasible());
    assert!(solved.evaluated_objective.unwrap().is_finite());
}

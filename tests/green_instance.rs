//! Green instance files and traces: the shipped synthetic traces are the documented formulas,
//! the shipped instances load and solve, and bad files are refused with an error that names the
//! file and field or CSV line.

use edgeplan::instance::green::generate::{generate_spec, write_instance, GenParams};
use edgeplan::instance::green::load;
use edgeplan::instance::trace;
use edgeplan::problems::green::traces::{carbon_solar_heavy, price_tou, solar_1kw, to_csv};

mod common;

use common::instances;

/// A shipped trace: file, formula, slots, slot length.
type ShippedTrace = (&'static str, fn(f64) -> f64, usize, f64);

/// The shipped traces.
fn traces() -> Vec<ShippedTrace> {
    vec![
        ("carbon-solar-heavy-1h.csv", carbon_solar_heavy, 48, 3600.0),
        ("solar-1kw-1h.csv", solar_1kw, 48, 3600.0),
        ("price-tou-1h.csv", price_tou, 48, 3600.0),
        (
            "carbon-solar-heavy-15min.csv",
            carbon_solar_heavy,
            96,
            900.0,
        ),
        ("solar-1kw-15min.csv", solar_1kw, 96, 900.0),
        ("price-tou-15min.csv", price_tou, 96, 900.0),
    ]
}

/// Rewrites the shipped traces: `cargo test --release --test green_instance -- --ignored`.
#[test]
#[ignore]
fn regenerate_traces() {
    let dir = instances().join("traces");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, f, slots, slot_s) in traces() {
        std::fs::write(dir.join(name), to_csv(f, slots, slot_s)).unwrap();
    }
}

/// The generated instances shipped in `instances/green/` (green-day is written by hand).
fn shipped() -> Vec<GenParams> {
    let base = GenParams {
        load: 0.25,
        ..GenParams::default()
    };
    vec![
        GenParams {
            jobs: 10,
            servers: 2,
            slots: 24,
            seed: 1,
            ..base.clone()
        },
        GenParams {
            jobs: 30,
            servers: 4,
            slots: 48,
            slot_s: 1800.0,
            seed: 2,
            ..base.clone()
        },
        GenParams {
            jobs: 100,
            servers: 10,
            slots: 96,
            slot_s: 900.0,
            seed: 3,
            ..base
        },
    ]
}

fn shipped_text(params: &GenParams) -> String {
    let file = generate_spec(params, &common::catalog(), &instances().join("models")).unwrap();
    write_instance(params, &file)
}

/// Rewrites the generated instances: `cargo test --release --test green_instance -- --ignored`.
#[test]
#[ignore]
fn regenerate_instances() {
    for params in shipped() {
        common::write_shipped("green", &params.instance_name(), &shipped_text(&params));
    }
}

#[test]
fn shipped_generated_instances_are_the_generator_output() {
    for params in shipped() {
        let name = params.instance_name();
        let path = common::assert_shipped_is("green", &name, &shipped_text(&params));
        let problem = load(&path).unwrap();
        assert_eq!(problem.jobs.len(), params.jobs);
        assert_eq!(problem.slots(), params.slots);
    }
}

#[test]
fn shipped_traces_are_the_documented_formulas() {
    for (name, f, slots, slot_s) in traces() {
        let path = instances().join("traces").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text == to_csv(f, slots, slot_s),
            "{name}: rerun the ignored test"
        );
        let loaded = trace::load(&path).unwrap();
        assert_eq!(loaded.values.len(), slots);
    }
}

#[test]
fn bad_traces_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    for (text, expected) in [
        (
            "timestamp,value\na,1\nb,x\n",
            "line 3: value: expected a number, got `x`",
        ),
        (
            "timestamp,value\na,1\na,2\n",
            "line 3: timestamp `a` appears twice",
        ),
        (
            "timestamp,value\na,-1\n",
            "line 2: value: expected a finite number >= 0",
        ),
        ("time,value\na,1\n", "line 1: missing column `timestamp`"),
        ("timestamp,value\n", "no rows"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = trace::load(&path).unwrap_err().to_string();
        assert!(err.contains("t.csv") && err.contains(expected), "{err}");
    }
}

#[test]
fn every_shipped_instance_loads() {
    let files = common::shipped_files("green", &["toml"]);
    assert!(!files.is_empty());
    for path in files {
        let problem = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(problem.name, path.file_stem().unwrap().to_string_lossy());
        for server in &problem.servers {
            assert_eq!(server.renewable_w.len(), problem.slots());
            assert!(server
                .levels
                .windows(2)
                .all(|w| w[0].speed_flops < w[1].speed_flops));
        }
    }
}

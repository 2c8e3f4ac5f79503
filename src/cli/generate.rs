//! What the `generate` commands share: the flag behind each generator parameter (so an
//! error names the flag the user typed), checks of the names given to the flags, and writing the
//! instance.

use super::output::out;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeplan::costs::{DeviceCatalog, Dtype, ModelConfig};
use edgeplan::instance::common::InstanceHeader;
use edgeplan::instance::paths::relative_to;
use edgeplan::Error;

/// `(GenParams field, flag)`: the flag of a `generate` command that sets each parameter. A unit
/// test checks each table against clap's flags and the fields of its GenParams, both ways.
pub(super) type Flags = &'static [(&'static str, &'static str)];

/// The flags of `edgeplan generate alloc`. No flag sets `prompt_tokens`, `generate_tokens`,
/// `batch_size` or `seq_len`.
pub(super) const ALLOC_FLAGS: Flags = &[
    ("users", "--users"),
    ("servers", "--servers"),
    ("seed", "--seed"),
    ("resource_blocks", "--blocks"),
    ("rb_bandwidth_hz", "--rb-bandwidth"),
    ("cell_radius_m", "--radius"),
    ("server_spacing_m", "--spacing"),
    ("rtt_s", "--rtt"),
    ("models", "--models"),
    ("dtypes", "--dtypes"),
    ("user_devices", "--devices"),
    ("server_device", "--server-device"),
    ("finetune_fraction", "--finetune-fraction"),
    ("deadline_factor", "--deadline-factor"),
    ("objective", "--objective"),
    ("name", "--name"),
];

/// The flags of `edgeplan generate cache`. No flag sets `carrier_hz`, `prompt_tokens` or
/// `generate_tokens`.
pub(super) const CACHE_FLAGS: Flags = &[
    ("servers", "--servers"),
    ("models", "--models"),
    ("users", "--users"),
    ("seed", "--seed"),
    ("bases", "--bases"),
    ("lora_fraction", "--lora-fraction"),
    ("top_layers_fraction", "--top-layers-fraction"),
    ("storage_bytes", "--storage"),
    ("spacing_m", "--spacing"),
    ("coverage_m", "--coverage"),
    ("user_bandwidth_hz", "--bandwidth"),
    ("backhaul_bps", "--backhaul"),
    ("user_devices", "--devices"),
    ("latency_limit_s", "--latency-limit"),
    ("zipf_skew", "--zipf"),
    ("per_user_order", "--per-user-order"),
    ("name", "--name"),
];

/// The flags of `edgeplan generate green` (every parameter has one).
pub(super) const GREEN_FLAGS: Flags = &[
    ("jobs", "--jobs"),
    ("servers", "--servers"),
    ("slots", "--slots"),
    ("slot_s", "--slot-s"),
    ("seed", "--seed"),
    ("load", "--load"),
    ("deadline_slack", "--deadline-slack"),
    ("server_devices", "--devices"),
    ("models", "--models"),
    ("objective", "--objective"),
    ("name", "--name"),
];

/// The flags of `edgeplan generate pipeline` (every parameter has one; `network_nodes` is the
/// sweep-grid alias of `nodes`).
pub(super) const PIPELINE_FLAGS: Flags = &[
    ("nodes", "--nodes"),
    ("seed", "--seed"),
    ("topology", "--topology"),
    ("model", "--model"),
    ("dtype", "--dtype"),
    ("objective", "--objective"),
    ("latency_weight", "--latency-weight"),
    ("energy_weight", "--energy-weight"),
    ("energy_scope", "--energy-scope"),
    ("routing", "--routing"),
    ("prompt_tokens", "--prompt-tokens"),
    ("generate_tokens", "--generate-tokens"),
    ("source_device", "--source-device"),
    ("devices", "--devices"),
    ("server_devices", "--server-devices"),
    ("cloud_device", "--cloud-device"),
    ("server_fraction", "--server-fraction"),
    ("memory_share", "--memory-share"),
    ("max_background_load", "--max-background-load"),
    ("area_m", "--area"),
    ("radius_m", "--radius"),
    ("base_stations", "--base-stations"),
    ("bs_spacing_m", "--bs-spacing"),
    ("cell_radius_m", "--cell-radius"),
    ("radio_bandwidth_hz", "--radio-bandwidth"),
    ("radio_latency_s", "--radio-latency"),
    ("wired_bps", "--wired-rate"),
    ("backhaul_bps", "--backhaul"),
    ("cloud_bps", "--cloud-rate"),
    ("cloud_distance_m", "--cloud-distance"),
    ("switch_delay_s", "--switch-delay"),
    ("embed_on_source", "--embed-on-source"),
    ("max_stages", "--max-stages"),
    ("deadline_s", "--deadline"),
    ("name", "--name"),
];

/// The flags of `edgeplan generate moe` (every parameter has one; `network_nodes` is the
/// sweep-grid alias of `nodes`).
pub(super) const MOE_FLAGS: Flags = &[
    ("task", "--task"),
    ("nodes", "--nodes"),
    ("seed", "--seed"),
    ("model", "--model"),
    ("dtype", "--dtype"),
    ("objective", "--objective"),
    ("skew", "--skew"),
    ("trace_tokens", "--trace-tokens"),
    ("prompt_tokens", "--prompt-tokens"),
    ("generate_tokens", "--generate-tokens"),
    ("home_device", "--home-device"),
    ("devices", "--devices"),
    ("device", "--device"),
    ("memory_share", "--memory-share"),
    ("min_rate_bps", "--min-rate"),
    ("max_rate_bps", "--max-rate"),
    ("min_latency_s", "--min-latency"),
    ("max_latency_s", "--max-latency"),
    ("uplink_bps", "--uplink"),
    ("downlink_bps", "--downlink"),
    ("slot_share", "--slot-share"),
    ("name", "--name"),
];

/// The flags of `edgeplan generate collab` (every parameter has one).
pub(super) const COLLAB_FLAGS: Flags = &[
    ("users", "--users"),
    ("seed", "--seed"),
    ("variants", "--variants"),
    ("edge_device", "--edge-device"),
    ("edge_memory_bytes", "--edge-memory"),
    ("resource_blocks", "--blocks"),
    ("rb_bandwidth_hz", "--rb-bandwidth"),
    ("cell_radius_m", "--radius"),
    ("rtt_s", "--rtt"),
    ("max_utilisation", "--max-utilisation"),
    ("user_devices", "--devices"),
    ("prompt_tokens", "--prompt-tokens"),
    ("output_tokens", "--output-tokens"),
    ("rate_per_s", "--rate"),
    ("deadline_s", "--deadline"),
    ("energy_limit_j", "--energy-limit"),
    ("quality_target", "--quality-target"),
    ("objective", "--objective"),
    ("modes", "--modes"),
    ("max_draft_length", "--max-draft-length"),
    ("escalations", "--escalations"),
    ("router_sharpness", "--router-sharpness"),
    ("name", "--name"),
];

/// The flags every `generate` command has beside its parameters': where the catalog is and
/// where the instance goes.
#[cfg(test)]
const COMMON_FLAGS: &[&str] = &["--instances", "--out"];

/// A generator's error in the terms of the command line: an [`Error::Option`] about a parameter
/// names the flag that sets it (`--blocks` for `resource_blocks`), and so do the parameter names
/// in its message. A parameter no flag sets keeps its own name (it can only come from a default
/// or a sweep file, never from a flag the user typed). Other errors pass unchanged.
pub(super) fn flag_error(flags: Flags, err: Error) -> Error {
    let flag_of = |field: &str| {
        flags
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, flag)| *flag)
    };
    match err {
        Error::Option { field, message } => {
            // Rename the snake_case parameter names in the message (`a_b + c_d must be ...`);
            // plain words such as `models` are left alone.
            let mut renamed = String::with_capacity(message.len());
            let mut rest = message.as_str();
            while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                renamed.push_str(&rest[..start]);
                rest = &rest[start..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let word = &rest[..end];
                match flag_of(word) {
                    Some(flag) if word.contains('_') => renamed.push_str(flag),
                    _ => renamed.push_str(word),
                }
                rest = &rest[end..];
            }
            renamed.push_str(rest);
            Error::Option {
                field: flag_of(&field).map_or(field, String::from),
                message: renamed,
            }
        }
        other => other,
    }
}

/// The catalog a `generate` command draws from: `<instances>/devices.csv` and
/// `<instances>/models`.
pub(super) struct Catalog {
    /// The device catalog.
    pub devices: DeviceCatalog,
    /// Where it was read.
    pub devices_path: PathBuf,
    /// The directory of model configs.
    pub models_dir: PathBuf,
}

impl Catalog {
    /// Reads the catalog in `instances`; an error names `--instances`.
    pub fn load(instances: &Path) -> edgeplan::Result<Catalog> {
        let devices_path = instances.join("devices.csv");
        let models_dir = instances.join("models");
        let devices = DeviceCatalog::load(&devices_path)
            .map_err(|e| Error::option("--instances", e.to_string()))?;
        if !models_dir.is_dir() {
            return Err(Error::option(
                "--instances",
                format!(
                    "{} is not a directory of model configs",
                    models_dir.display()
                ),
            ));
        }
        Ok(Catalog {
            devices,
            devices_path,
            models_dir,
        })
    }

    /// The sources a generated instance is loaded against (no profiled tables).
    pub fn sources(&self) -> edgeplan::instance::common::Sources<'_> {
        edgeplan::instance::common::Sources {
            catalog: &self.devices,
            devices_path: &self.devices_path,
            models_dir: &self.models_dir,
            profiles_dir: None,
        }
    }

    /// Checks that every name the user gave `flag` is a device of the catalog.
    pub fn check_devices(&self, flag: &str, names: Option<&[String]>) -> edgeplan::Result<()> {
        check_names(flag, names, |name| {
            self.devices
                .get(name, &self.devices_path)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    /// Checks that every name the user gave `flag` is a model config that loads.
    pub fn check_models(&self, flag: &str, names: Option<&[String]>) -> edgeplan::Result<()> {
        check_names(flag, names, |name| self.model(name))
    }

    /// Checks that every `config@dtype` (or `config`) the user gave `flag` is a model config
    /// that loads and a known dtype.
    pub fn check_bases(&self, flag: &str, names: Option<&[String]>) -> edgeplan::Result<()> {
        check_names(flag, names, |name| match name.split_once('@') {
            None => self.model(name),
            Some((model, dtype)) => {
                self.model(model)?;
                parse_dtype(dtype).map(|_| ())
            }
        })
    }

    fn model(&self, name: &str) -> Result<(), String> {
        ModelConfig::resolve(&self.models_dir, name)
            .and_then(|path| ModelConfig::load(&path))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Checks that every dtype the user gave `flag` is known.
pub(super) fn check_dtypes(flag: &str, names: Option<&[String]>) -> edgeplan::Result<()> {
    check_names(flag, names, |name| parse_dtype(name).map(|_| ()))
}

/// Checks the instance name of `--name`: not empty.
fn check_name(name: Option<&str>) -> edgeplan::Result<()> {
    match name {
        Some(name) if name.trim().is_empty() => Err(Error::option(
            "--name",
            "expected a non-empty instance name",
        )),
        _ => Ok(()),
    }
}

fn parse_dtype(text: &str) -> Result<Dtype, String> {
    Dtype::parse(text).ok_or_else(|| format!("expected fp32, fp16, int8 or q4, got \"{text}\""))
}

/// Checks each name of a flag the user gave (`None`: the flag was not given) with `check`; an
/// empty name or the first that fails is an error of `flag`.
fn check_names(
    flag: &str,
    names: Option<&[String]>,
    check: impl Fn(&str) -> Result<(), String>,
) -> edgeplan::Result<()> {
    for name in names.unwrap_or_default() {
        if name.trim().is_empty() {
            return Err(Error::option(
                flag,
                "expected a name, got an empty one (comma-separated names, no empty one)",
            ));
        }
        check(name).map_err(|message| Error::option(flag, message))?;
    }
    Ok(())
}

/// How a generated instance names the catalog it was drawn from: its `models_dir` and `devices`.
pub(super) struct CatalogPaths {
    /// The directory of model configs.
    pub models_dir: String,
    /// The device catalog (devices.csv).
    pub devices: String,
}

/// Writes an instance drawn from the catalog in `instances`: to standard output naming the
/// catalog as `instances` is given, or to the file `out` naming it relative to that file's
/// directory (so the file loads from anywhere), then says `wrote OUT (summary)` on standard error.
/// `render` makes the instance text given the catalog paths.
/// The options every `generate` command has beside its parameters: the instance's name, where
/// the catalog is and where the instance goes.
#[derive(clap::Args)]
pub struct Output {
    /// Instance name (default: from the parameters, e.g. alloc-10-users).
    #[arg(long)]
    pub name: Option<String>,
    /// Directory holding devices.csv and models/ to draw from.
    #[arg(long, default_value = "instances", value_name = "DIR")]
    pub instances: PathBuf,
    /// Write the instance here instead of standard output (its model and device paths are made
    /// relative to this file).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl Output {
    /// Checks `--name` and reads the catalog in `--instances`.
    pub fn catalog(&self) -> edgeplan::Result<Catalog> {
        check_name(self.name.as_deref())?;
        Catalog::load(&self.instances)
    }

    /// Points `file` at the catalog (see [`write`]) and writes the text `render` makes of it.
    pub fn write<F: InstanceHeader>(
        &self,
        mut file: F,
        render: impl FnOnce(&F) -> String,
        summary: &str,
    ) -> anyhow::Result<ExitCode> {
        let render = |paths: CatalogPaths| {
            file.set_catalog(paths.models_dir, paths.devices);
            render(&file)
        };
        write(&self.instances, self.out.as_deref(), render, summary)
    }
}

fn write(
    instances: &Path,
    out: Option<&Path>,
    render: impl FnOnce(CatalogPaths) -> String,
    summary: &str,
) -> anyhow::Result<ExitCode> {
    let models_dir = instances.join("models");
    let devices = instances.join("devices.csv");
    match out {
        None => {
            out!(
                "{}",
                render(CatalogPaths {
                    models_dir: models_dir.display().to_string(),
                    devices: devices.display().to_string(),
                })
            );
        }
        Some(out) => {
            let dir = out.parent().unwrap_or(Path::new(""));
            let text = render(CatalogPaths {
                models_dir: relative_to(&models_dir, dir)?,
                devices: relative_to(&devices, dir)?,
            });
            std::fs::write(out, text)
                .map_err(|e| Error::option("--out", Error::io(out, e).to_string()))?;
            eprintln!("wrote {} ({summary})", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::Args;

    use super::*;

    /// The long flags of a `generate` command, as clap parses them.
    fn clap_flags<A: Args>() -> BTreeSet<String> {
        A::augment_args(clap::Command::new("generate"))
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|long| format!("--{long}"))
            .collect()
    }

    /// The fields of a GenParams, from serde's message about an unknown field ("expected one
    /// of `a`, `b`, ...").
    fn param_fields<P: serde::de::DeserializeOwned>() -> BTreeSet<String> {
        let Err(err) = serde_json::from_str::<P>(r#"{"no such field": 0}"#) else {
            panic!("a GenParams took an unknown field");
        };
        let message = err.to_string();
        let list = message
            .split_once("expected one of")
            .unwrap_or_else(|| panic!("no field list in: {message}"))
            .1;
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect()
    }

    /// Every flag of the table is one of the command's flags and every field one of the
    /// parameters; every flag of the command but `--instances` and `--out` is in the table, and
    /// every parameter but `no_flag`.
    fn check<A: Args, P: serde::de::DeserializeOwned>(flags: Flags, no_flag: &[&str]) {
        let clap = clap_flags::<A>();
        let fields = param_fields::<P>();
        let table_flags: BTreeSet<String> = flags.iter().map(|(_, f)| f.to_string()).collect();
        let table_fields: BTreeSet<String> = flags.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(table_flags.len(), flags.len(), "a flag twice: {flags:?}");
        assert_eq!(table_fields.len(), flags.len(), "a field twice: {flags:?}");
        let mut expected_flags = table_flags.clone();
        expected_flags.extend(COMMON_FLAGS.iter().map(|f| f.to_string()));
        assert_eq!(clap, expected_flags, "clap's flags vs the table");
        let mut expected_fields = table_fields.clone();
        expected_fields.extend(no_flag.iter().map(|f| f.to_string()));
        assert_eq!(fields, expected_fields, "GenParams' fields vs the table");
    }

    #[test]
    fn the_flag_tables_match_clap_and_the_parameters() {
        use edgeplan::instance::{alloc, cache, collab, green, moe, pipeline};
        check::<super::super::alloc::GenerateArgs, alloc::generate::GenParams>(
            ALLOC_FLAGS,
            &["prompt_tokens", "generate_tokens", "batch_size", "seq_len"],
        );
        check::<super::super::cache::GenerateArgs, cache::generate::GenParams>(
            CACHE_FLAGS,
            &["carrier_hz", "prompt_tokens", "generate_tokens"],
        );
        check::<super::super::green::GenerateArgs, green::generate::GenParams>(GREEN_FLAGS, &[]);
        check::<super::super::pipeline::GenerateArgs, pipeline::generate::GenParams>(
            PIPELINE_FLAGS,
            // The sweep-grid alias of `nodes` (a column of the run rows).
            &["network_nodes"],
        );
        check::<super::super::moe::GenerateArgs, moe::generate::GenParams>(
            MOE_FLAGS,
            &["network_nodes"],
        );
        check::<super::super::collab::GenerateArgs, collab::generate::GenParams>(COLLAB_FLAGS, &[]);
    }

    #[test]
    fn an_option_error_names_the_flag() {
        let renamed = |field: &str, message: &str| match flag_error(
            ALLOC_FLAGS,
            Error::option(field, message),
        ) {
            Error::Option { field, message } => (field, message),
            other => panic!("{other}"),
        };
        assert_eq!(
            renamed("resource_blocks", "expected a positive number, got 0"),
            (
                "--blocks".into(),
                "expected a positive number, got 0".into()
            )
        );
        // Snake-case parameter names in the message become flags; plain words stay.
        assert_eq!(
            renamed(
                "server_spacing_m",
                "server_spacing_m > cell_radius_m; models"
            ),
            ("--spacing".into(), "--spacing > --radius; models".into())
        );
        // A parameter no flag sets keeps its name.
        assert_eq!(
            renamed("prompt_tokens", "expected 1 <= low <= high, got 5..=1"),
            (
                "prompt_tokens".into(),
                "expected 1 <= low <= high, got 5..=1".into()
            )
        );
        // Other errors pass unchanged.
        let other = flag_error(ALLOC_FLAGS, Error::field("f.toml", "users", "missing"));
        assert!(matches!(other, Error::Field { field, .. } if field == "users"));
    }

    #[test]
    fn names_are_checked_against_the_catalog() {
        let catalog = Catalog::load(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("instances")
                .as_path(),
        )
        .unwrap();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let field = |r: edgeplan::Result<()>| match r {
            Err(Error::Option { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert!(catalog
            .check_devices("--devices", Some(&names(&["rpi5", "l4"])))
            .is_ok());
        assert!(catalog.check_devices("--devices", None).is_ok());
        assert_eq!(
            field(catalog.check_devices("--devices", Some(&names(&["rpi5", "x"])))),
            "--devices"
        );
        assert_eq!(
            field(catalog.check_models("--models", Some(&names(&["gpt2", ""])))),
            "--models"
        );
        assert!(catalog
            .check_bases("--bases", Some(&names(&["gpt2@q4", "gpt2"])))
            .is_ok());
        assert_eq!(
            field(catalog.check_bases("--bases", Some(&names(&["gpt2@q3"])))),
            "--bases"
        );
        assert_eq!(
            field(check_dtypes("--dtypes", Some(&names(&["fp16", "fp8"])))),
            "--dtypes"
        );
        assert_eq!(field(check_name(Some(" "))), "--name");
        assert_eq!(
            field(Catalog::load(Path::new("no/such/dir")).map(|_| ())),
            "--instances"
        );
    }
}

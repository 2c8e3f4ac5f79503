//! Sweep files: what to vary, over which seeds, with which solvers.
//!
//! A sweep file is TOML. It names a source of instances, either a generator (`generate =
//! "alloc"`, its parameters being the fields of that problem's `GenParams`) or a base instance
//! file (`base = "../split/llama2-7b-jetson.toml"`, its parameters being dotted paths into the
//! file, `*` standing for every element of an array or table). `[fixed]` sets parameters on
//! every run, `[grid]` lists the values each parameter takes; the runs are the cartesian product
//! of the grid (first key outermost) x seeds x solvers.
//!
//! ```toml
//! name = "alloc-users"          # default: the file stem
//! generate = "alloc"            # or: base = "path/to/instance.toml"
//! data = ".."                   # generators: directory with devices.csv and models/ (default ..)
//! seeds = 10                    # seeds 0..9, or a list [1, 7, 42]; default 1 (seed 0)
//! solvers = ["local-search", "equal-split", "all-edge"]
//! time_limit_s = 30             # optional: overrides every preset's time limit
//! run_limit = 500000            # optional: runs above 100,000 are refused without it
//!
//! [fixed]
//! deadline_factor = 3.0
//!
//! [grid]
//! users = [10, 20, 50]
//! resource_blocks = { from = 50, to = 200, step = 50 }
//! rb_bandwidth_hz = { from = 90e3, to = 720e3, count = 4, scale = "log" }
//! ```
//!
//! The run seed is the generator's `seed` and the seed of randomised solvers (the `random` cache
//! baseline); with a base instance only the latter. Every HiGHS solve in a sweep runs on one
//! thread: parallelism is across runs. Paths inside the file are relative to it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::costs::device::DeviceCatalog;
use crate::error::{one_line, Error, Result};
use crate::instance::read_structured;
use crate::limits;
use crate::solve::SolverPreset;

/// The problem a sweep runs: any registered formulation.
pub use crate::registry::ProblemKind as Problem;

/// The sweep file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    generate: Option<String>,
    base: Option<String>,
    data: Option<String>,
    seeds: Option<SeedsSpec>,
    solvers: Vec<String>,
    time_limit_s: Option<f64>,
    mip_rel_gap: Option<f64>,
    run_limit: Option<i64>,
    #[serde(default)]
    fixed: toml::Table,
    #[serde(default)]
    grid: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SeedsSpec {
    Count(i64),
    List(Vec<i64>),
}

/// Where a sweep's instances come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Drawn by a problem's generator from its parameters.
    Generate {
        /// Directory holding `devices.csv` and `models/`.
        data_dir: PathBuf,
        /// The device catalog, loaded once.
        catalog: DeviceCatalog,
    },
    /// A base instance file with parameters overridden by dotted paths.
    Base {
        /// The file (relative paths inside it resolve against it).
        path: PathBuf,
        /// Its content.
        value: Value,
    },
}

/// A validated sweep: parameters, grid points, seeds and solver presets.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// Sweep name (the `sweep` column of its rows).
    pub name: String,
    /// The sweep file.
    pub path: PathBuf,
    /// Which problem every run solves.
    pub problem: Problem,
    /// Where instances come from.
    pub source: Source,
    /// Parameters set on every run.
    pub fixed: Vec<(String, Value)>,
    /// The grid's parameters, in file order (one CSV column each).
    pub parameters: Vec<String>,
    /// Every grid point: one value per parameter.
    pub points: Vec<Vec<Value>>,
    /// Run seeds.
    pub seeds: Vec<u64>,
    /// Solver presets (HiGHS on one thread, overrides applied).
    pub solvers: Vec<SolverPreset>,
}

/// Whether a grid parameter may not be called `name`: it names a column of every run row (or
/// of the `summarize` table).
fn reserved(name: &str) -> bool {
    use super::record::{LEADING_COLUMNS, OUTCOME_COLUMNS, TRAILING_COLUMNS};
    LEADING_COLUMNS
        .iter()
        .chain(&OUTCOME_COLUMNS)
        .chain(&TRAILING_COLUMNS)
        .chain(&["metric"])
        .any(|c| *c == name)
}

impl Sweep {
    /// Reads and validates a sweep file: every grid point is turned into generator parameters or
    /// an instance once, so a bad parameter name or value fails here, naming the point.
    pub fn load(path: &Path) -> Result<Sweep> {
        let file: SweepFile = read_structured(path)?;
        let name = file.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into())
        });
        let (problem, source) = load_source(path, &file)?;
        let seeds = load_seeds(path, &file)?;
        let solvers = load_solvers(path, &file, problem)?;
        let fixed = file
            .fixed
            .iter()
            .map(|(k, v)| Ok((k.clone(), to_json(path, &format!("fixed.{k}"), v)?)))
            .collect::<Result<Vec<_>>>()?;
        let (parameters, axes) = load_grid(path, &file, &fixed)?;
        check_size(path, &file, &axes, seeds.len(), solvers.len())?;
        let points = cartesian(&axes);
        let sweep = Sweep {
            name,
            path: path.to_path_buf(),
            problem,
            source,
            fixed,
            parameters,
            points,
            seeds,
            solvers,
        };
        for p in 0..sweep.points.len() {
            sweep.check_point(p)?;
        }
        Ok(sweep)
    }

    /// Instances (grid points x seeds).
    pub fn instances(&self) -> usize {
        self.points.len() * self.seeds.len()
    }

    /// Runs (instances x solvers).
    pub fn runs(&self) -> usize {
        self.instances() * self.solvers.len()
    }

    /// Grid point and seed index of instance `unit`.
    pub fn unit(&self, unit: usize) -> (usize, usize) {
        (unit / self.seeds.len(), unit % self.seeds.len())
    }

    /// The run id of solver `s` on instance `unit`.
    pub fn run_id(&self, unit: usize, solver: usize) -> usize {
        unit * self.solvers.len() + solver
    }

    /// The parameters of grid point `point` with seed `seed`, as one JSON object (fixed values,
    /// then the grid's, then the seed for generators).
    pub fn parameters_at(&self, point: usize, seed: u64) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.fixed {
            map.insert(k.clone(), v.clone());
        }
        for (k, v) in self.parameters.iter().zip(&self.points[point]) {
            map.insert(k.clone(), v.clone());
        }
        if matches!(self.source, Source::Generate { .. }) {
            map.insert("seed".into(), Value::from(seed));
        }
        map
    }

    /// A short text of grid point `point` (`users=10 rb=5`), for errors.
    pub fn describe_point(&self, point: usize) -> String {
        self.parameters
            .iter()
            .zip(&self.points[point])
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Checks that grid point `point` makes valid generator parameters or a valid instance
    /// file (the first seed only: seeds do not change names or types).
    fn check_point(&self, point: usize) -> Result<()> {
        let params = self.parameters_at(point, self.seeds[0]);
        let wrap = |error: Error| {
            let at = if self.parameters.is_empty() {
                "the fixed parameters".to_string()
            } else {
                format!("grid point {}", self.describe_point(point))
            };
            Error::field(&self.path, at, one_line(&error.to_string()))
        };
        super::run::check_instance(self, params).map_err(wrap)
    }
}

/// The swept problem and where its instances come from: a generator (with its data directory
/// and device catalog) or a base instance file.
fn load_source(path: &Path, file: &SweepFile) -> Result<(Problem, Source)> {
    let field = |name: &str, message: String| Error::field(path, name, message);
    match (&file.generate, &file.base) {
        (Some(_), Some(_)) | (None, None) => Err(field(
            "generate",
            "expected exactly one of `generate = \"<problem>\"` (a generator) and \
             `base = \"<instance file>\"`"
                .into(),
        )),
        (Some(problem), None) => {
            let problem = Problem::parse(problem).ok_or_else(|| {
                field(
                    "generate",
                    format!(
                        "unknown problem \"{problem}\"; expected {}",
                        Problem::names()
                    ),
                )
            })?;
            let data_dir = crate::instance::resolve(path, file.data.as_deref().unwrap_or(".."));
            let catalog = if problem.formulation().needs_data() {
                DeviceCatalog::load(&data_dir.join("devices.csv"))?
            } else {
                DeviceCatalog::default()
            };
            Ok((problem, Source::Generate { data_dir, catalog }))
        }
        (None, Some(base)) => {
            if file.data.is_some() {
                return Err(field(
                    "data",
                    "only for generators: a base instance names its own tables".into(),
                ));
            }
            let base_path = crate::instance::resolve(path, base);
            let problem = Problem::of_instance(&base_path)?;
            let value: Value = read_structured(&base_path)?;
            Ok((
                problem,
                Source::Base {
                    path: base_path,
                    value,
                },
            ))
        }
    }
}

/// The seeds: `0..n` for a count, a list's distinct non-negative values in order, `[0]` when
/// the file sets none.
fn load_seeds(path: &Path, file: &SweepFile) -> Result<Vec<u64>> {
    let field = |name: &str, message: String| Error::field(path, name, message);
    match &file.seeds {
        None => Ok(vec![0]),
        Some(SeedsSpec::Count(n)) => {
            let n = limits::count(path, "seeds", *n, 1, limits::MAX_SEEDS)?;
            Ok((0..n as u64).collect())
        }
        Some(SeedsSpec::List(list)) => {
            if list.is_empty() {
                return Err(field("seeds", "expected a non-empty list".into()));
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut seeds = Vec::with_capacity(list.len());
            for (i, &s) in list.iter().enumerate() {
                if s < 0 || !seen.insert(s) {
                    return Err(field(
                        &format!("seeds[{i}]"),
                        format!("expected distinct non-negative seeds, got {s}"),
                    ));
                }
                seeds.push(s as u64);
            }
            Ok(seeds)
        }
    }
}

/// Refuses a sweep whose runs (grid points x seeds x solvers) exceed its `run_limit` (default
/// [`limits::MAX_SWEEP_RUNS`], at most [`limits::MAX_SWEEP_RUN_LIMIT`]), before the grid is
/// built.
fn check_size(
    path: &Path,
    file: &SweepFile,
    axes: &[Vec<Value>],
    seeds: usize,
    solvers: usize,
) -> Result<()> {
    let limit = match file.run_limit {
        Some(n) => limits::count(path, "run_limit", n, 1, limits::MAX_SWEEP_RUN_LIMIT)?,
        None => limits::MAX_SWEEP_RUNS,
    };
    let mut factors: Vec<usize> = axes.iter().map(Vec::len).collect();
    factors.extend([seeds, solvers]);
    let runs = factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f));
    match runs {
        Some(runs) if runs <= limit => Ok(()),
        _ => {
            let mut product = factors
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(" x ");
            if let Some(n) = runs {
                product.push_str(&format!(" = {n}"));
            }
            let hint = if file.run_limit.is_some() {
                format!(
                    "raise `run_limit` (at most {})",
                    limits::MAX_SWEEP_RUN_LIMIT
                )
            } else {
                format!(
                    "set `run_limit` in the file to run more than {} (at most {})",
                    limits::MAX_SWEEP_RUNS,
                    limits::MAX_SWEEP_RUN_LIMIT
                )
            };
            Err(Error::field(
                path,
                "grid",
                format!(
                    "the sweep has {product} runs (grid axes x seeds x solvers), above its \
                     limit of {limit}: {hint}"
                ),
            ))
        }
    }
}

/// The grid's parameter names and each one's values, refusing reserved names and parameters
/// also set in `[fixed]`.
fn load_grid(
    path: &Path,
    file: &SweepFile,
    fixed: &[(String, Value)],
) -> Result<(Vec<String>, Vec<Vec<Value>>)> {
    let field = |name: &str, message: String| Error::field(path, name, message);
    let mut parameters = Vec::with_capacity(file.grid.len());
    let mut axes = Vec::with_capacity(file.grid.len());
    for (key, spec) in &file.grid {
        let at = format!("grid.{key}");
        if reserved(key) {
            let hint = if key == "seed" {
                "set the seeds with `seeds`"
            } else {
                "it names a column of the run rows"
            };
            return Err(field(
                &at,
                format!("`{key}` cannot be a grid parameter: {hint}"),
            ));
        }
        if fixed.iter().any(|(k, _)| k == key) {
            return Err(field(&at, "set both in [fixed] and in [grid]".into()));
        }
        axes.push(axis_values(path, &at, spec)?);
        parameters.push(key.clone());
    }
    Ok((parameters, axes))
}

/// Resolves the solver presets, checks each against the problem, and applies the sweep's
/// overrides (one HiGHS thread per run).
fn load_solvers(path: &Path, file: &SweepFile, problem: Problem) -> Result<Vec<SolverPreset>> {
    if file.solvers.is_empty() {
        return Err(Error::field(
            path,
            "solvers",
            format!(
                "expected at least one preset; the {} problem supports {}",
                problem.name(),
                problem.solvers().join(", ")
            ),
        ));
    }
    let mut presets: Vec<SolverPreset> = Vec::with_capacity(file.solvers.len());
    for (i, spec) in file.solvers.iter().enumerate() {
        let at = format!("solvers[{i}]");
        let spec_path = if spec.ends_with(".toml") {
            crate::instance::resolve(path, spec).display().to_string()
        } else {
            spec.clone()
        };
        let mut preset = SolverPreset::resolve(&spec_path)
            .map_err(|e| Error::field(path, &at, e.to_string()))?;
        if !problem.solvers().contains(&preset.solver.as_str()) {
            return Err(Error::field(
                path,
                &at,
                format!(
                    "preset `{}` runs solver `{}`, which the {} problem does not have; it supports {}",
                    preset.name,
                    preset.solver,
                    problem.name(),
                    problem.solvers().join(", ")
                ),
            ));
        }
        if presets.iter().any(|p| p.name == preset.name) {
            return Err(Error::field(
                path,
                &at,
                format!("preset `{}` is listed twice", preset.name),
            ));
        }
        if let Some(t) = file.time_limit_s {
            preset.time_limit_s = Some(t);
        }
        if let Some(g) = file.mip_rel_gap {
            preset.mip_rel_gap = g;
        }
        preset.threads = 1;
        preset.validate(path)?;
        presets.push(preset);
    }
    Ok(presets)
}

/// A TOML value as JSON (the value type runs are built from).
fn to_json(path: &Path, at: &str, value: &toml::Value) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::field(path, at, e.to_string()))
}

/// The values of one grid axis: a list, or a range table.
fn axis_values(path: &Path, at: &str, spec: &toml::Value) -> Result<Vec<Value>> {
    let bad = |message: String| Error::field(path, at, message);
    match spec {
        toml::Value::Array(list) if list.is_empty() => {
            Err(bad("expected at least one value".into()))
        }
        toml::Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, v)| to_json(path, &format!("{at}[{i}]"), v))
            .collect(),
        toml::Value::Table(table) if table.contains_key("from") => {
            let range: RangeSpec = table
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| bad(one_line(&e.to_string())))?;
            range.values().map_err(bad)
        }
        _ => Err(bad(
            "expected a list of values, or a range { from, to, step } or { from, to, count, \
             scale = \"linear\" | \"log\" }; a single value belongs in [fixed]"
                .into(),
        )),
    }
}

/// `{ from, to, step }` or `{ from, to, count, scale }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeSpec {
    from: toml::Value,
    to: toml::Value,
    step: Option<toml::Value>,
    count: Option<i64>,
    scale: Option<String>,
}

/// Most values one range may produce.
const MAX_RANGE_VALUES: usize = 100_000;

impl RangeSpec {
    fn values(&self) -> std::result::Result<Vec<Value>, String> {
        let number = |v: &toml::Value, name: &str| match v {
            toml::Value::Integer(i) => Ok((*i as f64, true)),
            toml::Value::Float(f) if f.is_finite() => Ok((*f, false)),
            other => Err(format!("`{name}`: expected a number, got {other}")),
        };
        let (from, from_int) = number(&self.from, "from")?;
        let (to, to_int) = number(&self.to, "to")?;
        if to < from {
            return Err(format!("`to` ({to}) is below `from` ({from})"));
        }
        let log = match self.scale.as_deref() {
            None | Some("linear") => false,
            Some("log") => true,
            Some(other) => return Err(format!("`scale`: expected linear or log, got {other}")),
        };
        match (&self.step, self.count) {
            (Some(step), None) => {
                if log {
                    return Err("`scale = \"log\"` takes `count`, not `step`".into());
                }
                let (step, step_int) = number(step, "step")?;
                if step <= 0.0 {
                    return Err(format!("`step`: expected a positive number, got {step}"));
                }
                let n = ((to - from) / step * (1.0 + 1e-12) + 1e-9).floor() as usize + 1;
                if n > MAX_RANGE_VALUES {
                    return Err(format!("{n} values: at most {MAX_RANGE_VALUES} per range"));
                }
                let integer = from_int && to_int && step_int;
                Ok((0..n)
                    .map(|i| number_value(from + i as f64 * step, integer))
                    .collect())
            }
            (None, Some(count)) => {
                if count < 1 || count as usize > MAX_RANGE_VALUES {
                    return Err(format!(
                        "`count`: expected 1 to {MAX_RANGE_VALUES}, got {count}"
                    ));
                }
                if log && from <= 0.0 {
                    return Err(format!("`scale = \"log\"` needs `from` > 0, got {from}"));
                }
                let n = count as usize;
                Ok((0..n)
                    .map(|i| {
                        let t = if n == 1 {
                            0.0
                        } else {
                            i as f64 / (n - 1) as f64
                        };
                        let v = if log {
                            from * (to / from).powf(t)
                        } else {
                            from + t * (to - from)
                        };
                        number_value(v, false)
                    })
                    .collect())
            }
            _ => Err("expected exactly one of `step` and `count`".into()),
        }
    }
}

/// A range value: an integer when the range is integral, else a float rounded to 12
/// significant digits (so 0.1 steps do not print as 0.30000000000000004).
fn number_value(v: f64, integer: bool) -> Value {
    if integer {
        Value::from(v.round() as i64)
    } else {
        let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
        Value::from(rounded)
    }
}

/// The cartesian product of the axes, first axis outermost.
fn cartesian(axes: &[Vec<Value>]) -> Vec<Vec<Value>> {
    let mut points = vec![Vec::with_capacity(axes.len())];
    for axis in axes {
        points = points
            .iter()
            .flat_map(|p| {
                axis.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(v.clone());
                    q
                })
            })
            .collect();
    }
    points
}

/// A parameter value as a CSV cell: strings bare, numbers and booleans as written, lists and
/// tables as compact JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Sets `value` at the dotted `key` of `doc` (`*` matches every element of an array or table;
/// a missing table along the way is created, so an optional section can be set).
pub fn set_path(doc: &mut Value, key: &str, value: &Value) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    set_parts(doc, &parts, value, key)
}

fn set_parts(
    doc: &mut Value,
    parts: &[&str],
    value: &Value,
    key: &str,
) -> std::result::Result<(), String> {
    let (head, rest) = match parts.split_first() {
        Some(split) => split,
        None => {
            *doc = value.clone();
            return Ok(());
        }
    };
    match doc {
        Value::Array(items) if *head == "*" => {
            for item in items.iter_mut() {
                set_parts(item, rest, value, key)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let i: usize = head
                .parse()
                .map_err(|_| format!("`{key}`: `{head}` indexes a list: expected a number or *"))?;
            let len = items.len();
            let item = items
                .get_mut(i)
                .ok_or_else(|| format!("`{key}`: index {i} is past the list's {len} elements"))?;
            set_parts(item, rest, value, key)
        }
        Value::Object(map) if *head == "*" => {
            for item in map.values_mut() {
                set_parts(item, rest, value, key)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let entry = map.entry(head.to_string()).or_insert_with(|| {
                if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Object(Default::default())
                }
            });
            set_parts(entry, rest, value, key)
        }
        _ => Err(format!(
            "`{key}`: `{head}` is inside a value that is neither a table nor a list"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Vec<Value> {
        let table: toml::Table = toml::from_str(&format!("r = {text}")).unwrap();
        axis_values(Path::new("s.toml"), "grid.r", &table["r"]).unwrap()
    }

    /// Integer ranges stay integers and include `to`; float steps do not accumulate error.
    #[test]
    fn ranges() {
        assert_eq!(
            range("{ from = 10, to = 40, step = 10 }"),
            [10, 20, 30, 40].map(Value::from)
        );
        let floats: Vec<f64> = range("{ from = 0.1, to = 0.5, step = 0.1 }")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(floats, [0.1, 0.2, 0.3, 0.4, 0.5]);
        let log: Vec<f64> = range("{ from = 1e6, to = 1e9, count = 4, scale = \"log\" }")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(log, [1e6, 1e7, 1e8, 1e9]);
        assert_eq!(
            range("[\"a\", \"b\"]"),
            [Value::from("a"), Value::from("b")]
        );
    }

    /// Bad ranges name the problem.
    #[test]
    fn bad_ranges() {
        let err = |text: &str| {
            let table: toml::Table = toml::from_str(&format!("r = {text}")).unwrap();
            axis_values(Path::new("s.toml"), "grid.r", &table["r"])
                .unwrap_err()
                .to_string()
        };
        assert!(err("{ from = 5, to = 1, step = 1 }").contains("below"));
        assert!(err("{ from = 1, to = 5 }").contains("exactly one of"));
        assert!(err("{ from = 0, to = 5, count = 3, scale = \"log\" }").contains("> 0"));
        assert!(err("3").contains("[fixed]"));
        assert!(err("[]").contains("at least one"));
    }

    /// The product runs the first axis outermost.
    #[test]
    fn product_order() {
        let axes = vec![
            vec![Value::from(1), Value::from(2)],
            vec![Value::from("a"), Value::from("b"), Value::from("c")],
        ];
        let points = cartesian(&axes);
        assert_eq!(points.len(), 6);
        assert_eq!(points[1], vec![Value::from(1), Value::from("b")]);
        assert_eq!(points[3], vec![Value::from(2), Value::from("a")]);
        assert_eq!(cartesian(&[]), vec![Vec::<Value>::new()]);
    }

    /// Dotted paths reach nested tables, list indices and every element with `*`.
    #[test]
    fn paths() {
        let mut doc = serde_json::json!({"links": {"wireless": {"uplink_bps": 1.0}},
            "servers": [{"storage": 1}, {"storage": 2}]});
        set_path(&mut doc, "links.wireless.uplink_bps", &Value::from(5.0)).unwrap();
        set_path(&mut doc, "servers.*.storage", &Value::from(9)).unwrap();
        set_path(&mut doc, "servers.1.name", &Value::from("b")).unwrap();
        set_path(&mut doc, "constraints.deadline_s", &Value::from(3.0)).unwrap();
        assert_eq!(doc["links"]["wireless"]["uplink_bps"], 5.0);
        assert_eq!(doc["servers"][0]["storage"], 9);
        assert_eq!(doc["servers"][1]["name"], "b");
        assert_eq!(doc["constraints"]["deadline_s"], 3.0);
        assert!(set_path(&mut doc, "servers.7.storage", &Value::from(1))
            .unwrap_err()
            .contains("past"));
        assert!(set_path(&mut doc, "links.wireless.uplink_bps.x", &Value::from(1)).is_err());
    }
}

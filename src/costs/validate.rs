//! Predicted vs measured throughput: `instances/measurements.csv` holds published prefill and
//! decode throughputs (each with its runtime, source and the cell it was read from); this module
//! predicts each row and reports the error, for the v1 model (the device's own efficiencies) and
//! the v2 model (runtimes.csv), in sample and leave-one-source-out (module `fit`).
//!
//! A prefill row of `tokens` = P is predicted as `P / sum_l prefill(l, P)` (after `context` = C
//! cached tokens: one pass of P tokens at context C, every output computed); a decode row of
//! `tokens` = G starting at C as `G / sum_{C <= i < C + G} sum_l decode(l, i)`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::arch::{Dtype, ModelConfig};
use super::device::{DeviceCatalog, RuntimeChoice};
use super::latency::{LayerTimer, Phase};
use super::runtime::{check_unit, runtime_info};
use super::table::{CostTable, CsvFile};
use crate::error::{Error, Result};
use crate::limits;

/// One published measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Model config name.
    pub model: String,
    /// Weight type.
    pub dtype: Dtype,
    /// Exact weight format (Q4_K_M, AWQ-W4A16-g128, ...).
    pub quant: String,
    /// Device name in `devices.csv`.
    pub device: String,
    /// Unit it ran on (`None`: the runtime's, else the device's default).
    pub unit: Option<String>,
    /// Runtime id (module `runtime`).
    pub runtime: String,
    /// Prefill or decode.
    pub phase: Phase,
    /// Tokens already in the KV cache when the row starts (decode; prefill after cached
    /// history, a chunk of prefill).
    pub context: usize,
    /// Prompt length (prefill) or generated tokens (decode).
    pub tokens: usize,
    /// Measured tokens per second.
    pub tokens_per_s: f64,
    /// Where the figure is published.
    pub source: String,
    /// The cell it was read from.
    pub cell: String,
    /// Board, build, settings.
    pub variant: String,
    /// CSV line.
    pub line: u64,
    /// The CSV file (named in errors).
    #[serde(skip)]
    pub path: PathBuf,
}

impl Measurement {
    /// The source a row belongs to, for leave-one-source-out: the address without scheme,
    /// query, fragment, and a GitHub file's `blob/COMMIT` (or `tree/COMMIT`) part, lower-cased;
    /// one published document (a README, a notebook, an issue or discussion thread, a web page)
    /// is one source.
    pub fn source_key(&self) -> String {
        source_key(&self.source)
    }

    /// The error at this row's line.
    fn bad(&self, message: String) -> Error {
        Error::CsvLine {
            path: self.path.clone(),
            line: self.line,
            message,
        }
    }
}

/// See [`Measurement::source_key`].
pub fn source_key(source: &str) -> String {
    let s = source
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.");
    let s = s.split(['#', '?', ' ']).next().unwrap_or(s);
    let mut parts: Vec<&str> = s.split('/').filter(|p| !p.is_empty()).collect();
    if parts.first() == Some(&"github.com")
        && parts.len() >= 5
        && (parts[3] == "blob" || parts[3] == "tree")
    {
        parts.drain(3..5);
    }
    parts.join("/").to_lowercase()
}

/// Reads `model,dtype,device,runtime,phase,tokens,tokens_per_s,source` plus the optional
/// `quant,unit,context,cell,variant,notes`.
pub fn load_measurements(path: &Path) -> Result<Vec<Measurement>> {
    let mut csv = CsvFile::open(path)?;
    let idx = csv.require(
        path,
        [
            "model",
            "dtype",
            "device",
            "runtime",
            "phase",
            "tokens",
            "tokens_per_s",
            "source",
        ],
    )?;
    let [quant, unit, context, cell, variant] =
        ["quant", "unit", "context", "cell", "variant"].map(|c| csv.column(c));
    let mut rows = Vec::new();
    for row in csv.rows(path) {
        let row = row?;
        let get = |i: usize| row.text(idx[i]);
        let text = |c: Option<usize>| row.filled(c).map_or("", |i| row.text(i)).to_string();
        let dtype = Dtype::parse(get(1)).ok_or_else(|| {
            row.bad(format!(
                "column `dtype`: expected fp32, fp16, int8 or q4, got `{}`",
                get(1)
            ))
        })?;
        let runtime = runtime_info(get(3))
            .map_err(|e| row.bad(format!("column `runtime`: {e}")))?
            .id
            .to_string();
        let phase = Phase::parse(get(4)).ok_or_else(|| {
            row.bad(format!(
                "column `phase`: expected prefill or decode, got `{}`",
                get(4)
            ))
        })?;
        let tokens: usize = row.parse(
            idx[5],
            "column `tokens`",
            &format!("an integer in 1..={}", limits::MAX_TOKENS),
            |&t| (1..=limits::MAX_TOKENS).contains(&t),
        )?;
        let context: usize = match row.filled(context) {
            None => 0,
            Some(i) => row.parse(
                i,
                "column `context`",
                &format!("an integer in 0..={}", limits::MAX_TOKENS),
                |&t| t <= limits::MAX_TOKENS,
            )?,
        };
        let unit = match row.filled(unit) {
            None => None,
            Some(i) => {
                let u = row.text(i);
                check_unit(u).map_err(|e| row.bad(format!("column `unit`: {e}")))?;
                Some(u.to_string())
            }
        };
        let tokens_per_s = row.range(idx[6], "tokens_per_s", limits::TOKENS_PER_S)?;
        rows.push(Measurement {
            model: get(0).to_string(),
            dtype,
            quant: text(quant),
            device: get(2).to_string(),
            unit,
            runtime,
            phase,
            context,
            tokens,
            tokens_per_s,
            source: get(7).to_string(),
            cell: text(cell),
            variant: text(variant),
            line: row.line,
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

/// The cost tables of the measurements' models, by (model, dtype), checked against the rows'
/// token counts.
pub fn cost_tables(
    measurements: &[Measurement],
    models_dir: &Path,
) -> Result<BTreeMap<(String, Dtype), CostTable>> {
    let mut tables = BTreeMap::new();
    let mut configs: BTreeMap<String, ModelConfig> = BTreeMap::new();
    for m in measurements {
        if !configs.contains_key(&m.model) {
            let config = ModelConfig::load(&ModelConfig::resolve(models_dir, &m.model)?)?;
            configs.insert(m.model.clone(), config);
        }
        let config = &configs[&m.model];
        if let Some(max) = config.architecture.max_context {
            if m.context + m.tokens > max {
                return Err(m.bad(format!(
                    "columns `context` + `tokens`: {} tokens exceed the maximum context of model \
                     `{}` ({max})",
                    m.context + m.tokens,
                    m.model
                )));
            }
        }
        // Each decode step is priced layer by layer: bound the work before it is done.
        limits::cells(
            &m.path,
            &format!("line {}: tokens x layers", m.line),
            &[m.tokens, config.architecture.layers + 2],
        )?;
        tables
            .entry((m.model.clone(), m.dtype))
            .or_insert_with(|| config.architecture.cost_table(&config.name, m.dtype));
    }
    Ok(tables)
}

/// Which model predicts: v1 ignores the rows' runtimes (the device's own efficiencies).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// Device efficiencies of devices.csv, default unit, no overheads.
    V1,
    /// The row's runtime and unit through the catalog's runtime table.
    V2,
}

/// Predicted tokens per second of `m` with `catalog` (which carries the runtime table).
pub fn predict(
    m: &Measurement,
    table: &CostTable,
    catalog: &DeviceCatalog,
    model: Model,
) -> Result<f64> {
    let choice = match model {
        Model::V1 => RuntimeChoice::default(),
        Model::V2 => RuntimeChoice {
            runtime: Some(&m.runtime),
            unit: m.unit.as_deref(),
        },
    };
    let device = catalog
        .resolve(&m.device, choice, m.dtype, table.len())
        .map_err(|e| m.bad(e))?;
    let timer = LayerTimer {
        device: &device,
        profile: None,
    };
    let seconds: f64 = match m.phase {
        Phase::Prefill if m.context > 0 => table
            .layers
            .iter()
            .map(|l| {
                timer
                    .pass(Phase::Prefill, l, m.context as f64, m.tokens)
                    .latency_s
            })
            .sum(),
        Phase::Prefill => table
            .layers
            .iter()
            .map(|l| timer.prefill(l, m.tokens).latency_s)
            .sum(),
        Phase::Decode => table
            .layers
            .iter()
            .map(|l| timer.decode_steps(l, m.context, m.tokens).latency_s)
            .sum(),
    };
    Ok(m.tokens as f64 / seconds)
}

/// A measurement with its prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The measurement.
    pub measurement: Measurement,
    /// Predicted tokens per second.
    pub predicted_tokens_per_s: f64,
    /// `(predicted - measured) / measured`.
    pub relative_error: f64,
}

/// Predicts every measurement with the v1 model of `catalog` (the device rows alone).
pub fn compare(
    measurements: &[Measurement],
    models_dir: &Path,
    catalog: &DeviceCatalog,
) -> Result<Vec<Comparison>> {
    let tables = cost_tables(measurements, models_dir)?;
    measurements
        .iter()
        .map(|m| {
            let predicted = predict(m, &tables[&(m.model.clone(), m.dtype)], catalog, Model::V1)?;
            Ok(Comparison {
                measurement: m.clone(),
                predicted_tokens_per_s: predicted,
                relative_error: (predicted - m.tokens_per_s) / m.tokens_per_s,
            })
        })
        .collect()
}

/// Median of `|relative_error|`.
pub fn median_abs_error(rows: &[Comparison]) -> Option<f64> {
    median_abs(rows.iter().map(|r| r.relative_error))
}

/// Median of the absolute values.
pub fn median_abs(errors: impl Iterator<Item = f64>) -> Option<f64> {
    let mut e: Vec<f64> = errors.map(f64::abs).collect();
    if e.is_empty() {
        return None;
    }
    e.sort_by(f64::total_cmp);
    let n = e.len();
    Some(if n % 2 == 1 {
        e[n / 2]
    } else {
        (e[n / 2 - 1] + e[n / 2]) / 2.0
    })
}

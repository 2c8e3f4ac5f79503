//! Predicted vs measured throughput: `instances/measurements.csv` holds published prefill and
//! decode throughputs (llama.cpp, MLC and similar benchmarks, each with its source); this module
//! predicts each row with the roofline of `devices.csv` and reports the error.
//!
//! A prefill row of `tokens` = P is predicted as `P / sum_l prefill(l, P)`; a decode row of
//! `tokens` = G (llama.cpp `tg G`: G tokens generated from an empty context) as
//! `G / sum_{i<G} sum_l decode(l, i)`.

use std::path::Path;

use serde::Serialize;

use super::arch::{Dtype, ModelConfig};
use super::device::DeviceCatalog;
use super::latency::{LayerTimer, Phase};
use super::table::CsvFile;
use crate::error::{Error, Result};
use crate::limits;

/// One published measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Model config name.
    pub model: String,
    /// Weight type.
    pub dtype: Dtype,
    /// Device name in `devices.csv`.
    pub device: String,
    /// Prefill or decode.
    pub phase: Phase,
    /// Prompt length (prefill) or generated tokens (decode).
    pub tokens: usize,
    /// Measured tokens per second.
    pub tokens_per_s: f64,
    /// Framework that was measured.
    pub framework: String,
    /// Where the figure is published.
    pub source: String,
    /// CSV line.
    pub line: u64,
    /// The CSV file (named in errors).
    #[serde(skip)]
    pub path: std::path::PathBuf,
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

/// Reads `model,dtype,device,phase,tokens,tokens_per_s,framework,source[,notes]`.
pub fn load_measurements(path: &Path) -> Result<Vec<Measurement>> {
    let mut csv = CsvFile::open(path)?;
    let idx = csv.require(
        path,
        [
            "model",
            "dtype",
            "device",
            "phase",
            "tokens",
            "tokens_per_s",
            "framework",
            "source",
        ],
    )?;
    let mut rows = Vec::new();
    for row in csv.rows(path) {
        let row = row?;
        let get = |i: usize| row.text(idx[i]);
        let dtype = Dtype::parse(get(1)).ok_or_else(|| {
            row.bad(format!(
                "dtype: expected fp32, fp16, int8 or q4, got `{}`",
                get(1)
            ))
        })?;
        let phase = match get(3) {
            "prefill" => Phase::Prefill,
            "decode" => Phase::Decode,
            other => {
                return Err(row.bad(format!("phase: expected prefill or decode, got `{other}`")))
            }
        };
        let tokens: usize = row.parse(
            idx[4],
            "column `tokens`",
            &format!("an integer in 1..={}", limits::MAX_TOKENS),
            |&t| (1..=limits::MAX_TOKENS).contains(&t),
        )?;
        let tokens_per_s = row.range(idx[5], "tokens_per_s", limits::TOKENS_PER_S)?;
        rows.push(Measurement {
            model: get(0).to_string(),
            dtype,
            device: get(2).to_string(),
            phase,
            tokens,
            tokens_per_s,
            framework: get(6).to_string(),
            source: get(7).to_string(),
            line: row.line,
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

/// Predicts every measurement from the model configs in `models_dir` and the device catalog.
pub fn compare(
    measurements: &[Measurement],
    models_dir: &Path,
    catalog: &DeviceCatalog,
    devices_path: &Path,
) -> Result<Vec<Comparison>> {
    let mut out = Vec::with_capacity(measurements.len());
    for m in measurements {
        let config = ModelConfig::load(&ModelConfig::resolve(models_dir, &m.model)?)?;
        if let Some(context) = config.architecture.max_context {
            if m.tokens > context {
                return Err(Error::CsvLine {
                    path: m.path.clone(),
                    line: m.line,
                    message: format!(
                        "column `tokens`: {} tokens exceed the maximum context of model `{}` ({context})",
                        m.tokens, m.model
                    ),
                });
            }
        }
        // Each decode step is priced layer by layer: bound the work before it is done.
        limits::cells(
            &m.path,
            &format!("line {}: tokens x layers", m.line),
            &[m.tokens, config.architecture.layers + 2],
        )?;
        let table = config.architecture.cost_table(&config.name, m.dtype);
        let device = catalog.get(&m.device, devices_path)?;
        let timer = LayerTimer {
            device,
            profile: None,
        };
        let seconds: f64 = match m.phase {
            Phase::Prefill => table
                .layers
                .iter()
                .map(|l| timer.prefill(l, m.tokens).latency_s)
                .sum(),
            Phase::Decode => table
                .layers
                .iter()
                .map(|l| timer.decode_steps(l, 0, m.tokens).latency_s)
                .sum(),
        };
        let predicted = m.tokens as f64 / seconds;
        out.push(Comparison {
            measurement: m.clone(),
            predicted_tokens_per_s: predicted,
            relative_error: (predicted - m.tokens_per_s) / m.tokens_per_s,
        });
    }
    Ok(out)
}

/// Median of `|relative_error|`.
pub fn median_abs_error(rows: &[Comparison]) -> Option<f64> {
    let mut e: Vec<f64> = rows.iter().map(|r| r.relative_error.abs()).collect();
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

//! The per-layer model cost table and its CSV form.
//!
//! Required columns (docs/costs.md, plus the context-dependent attention term):
//! `layer,kind,params,param_bytes,fwd_flop_per_token,bwd_flop_per_token,
//! attn_flop_per_token_per_ctx,out_bytes_per_token,kv_bytes_per_token`.
//! Optional columns: `active_param_bytes` (default `param_bytes`) (weight bytes one
//! decode token reads; smaller than `param_bytes` for MoE blocks and the embedding lookup),
//! `tied_param_bytes` (default 0) (bytes of the embedding matrix a tied head needs when it runs on
//! another tier than the embedding), `train_act_bytes_per_token` (default 0) and
//! `train_act_bytes_per_token_per_ctx` (default 0) (activation memory kept for the backward pass).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::arch::Dtype;
use crate::error::{Error, Result};
use crate::limits;

/// What a row of the table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// Token (and position) embedding.
    Embed,
    /// A transformer block (attention + MLP).
    Block,
    /// Final norm and LM head.
    Head,
}

impl LayerKind {
    /// The lower-case name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Embed => "embed",
            LayerKind::Block => "block",
            LayerKind::Head => "head",
        }
    }
}

/// Costs of one layer. Units: bytes, FLOP; "per token" means per processed token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerCost {
    /// Position in execution order, 0 = embedding.
    pub layer: usize,
    /// Layer kind.
    pub kind: LayerKind,
    /// Unique parameters of this layer.
    pub params: u64,
    /// Bytes of those parameters in the table's dtype.
    pub param_bytes: f64,
    /// Forward FLOP per token, excluding the context-dependent attention term.
    pub fwd_flop_per_token: f64,
    /// Backward FLOP per token for full fine-tuning (input and weight gradients).
    pub bwd_flop_per_token: f64,
    /// Forward attention FLOP per token per context token it attends to.
    pub attn_flop_per_token_per_ctx: f64,
    /// Bytes of this layer's output per token (what crosses a cut placed after it).
    pub out_bytes_per_token: f64,
    /// KV-cache bytes this layer stores per cached token.
    pub kv_bytes_per_token: f64,
    /// Weight bytes one decode token reads.
    pub active_param_bytes: f64,
    /// Bytes of a weight shared with the embedding (tied head), needed again on the head's tier
    /// when the embedding runs elsewhere.
    pub tied_param_bytes: f64,
    /// Activation bytes kept per token for the backward pass.
    pub train_act_bytes_per_token: f64,
    /// Activation bytes kept per token per context token (attention scores).
    pub train_act_bytes_per_token_per_ctx: f64,
}

/// The cost table of a model: one row per layer in execution order (embed, blocks, head).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostTable {
    /// Model name.
    pub model: String,
    /// Weight dtype, when known (tables generated from a config).
    pub dtype: Option<Dtype>,
    /// The rows.
    pub layers: Vec<LayerCost>,
}

const REQUIRED: [&str; 9] = [
    "layer",
    "kind",
    "params",
    "param_bytes",
    "fwd_flop_per_token",
    "bwd_flop_per_token",
    "attn_flop_per_token_per_ctx",
    "out_bytes_per_token",
    "kv_bytes_per_token",
];
const OPTIONAL: [&str; 4] = [
    "active_param_bytes",
    "tied_param_bytes",
    "train_act_bytes_per_token",
    "train_act_bytes_per_token_per_ctx",
];

impl CostTable {
    /// Number of rows (blocks + 2).
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Total unique parameters.
    pub fn total_params(&self) -> u64 {
        self.layers.iter().map(|l| l.params).sum()
    }

    /// Total parameter bytes.
    pub fn total_param_bytes(&self) -> f64 {
        self.layers.iter().map(|l| l.param_bytes).sum()
    }

    /// Writes the table as CSV (all columns).
    pub fn write_csv<W: Write>(&self, out: W) -> std::io::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        let header: Vec<&str> = REQUIRED.iter().chain(OPTIONAL.iter()).copied().collect();
        writer.write_record(&header)?;
        for l in &self.layers {
            writer.write_record([
                l.layer.to_string(),
                l.kind.name().to_string(),
                l.params.to_string(),
                fmt_num(l.param_bytes),
                fmt_num(l.fwd_flop_per_token),
                fmt_num(l.bwd_flop_per_token),
                fmt_num(l.attn_flop_per_token_per_ctx),
                fmt_num(l.out_bytes_per_token),
                fmt_num(l.kv_bytes_per_token),
                fmt_num(l.active_param_bytes),
                fmt_num(l.tied_param_bytes),
                fmt_num(l.train_act_bytes_per_token),
                fmt_num(l.train_act_bytes_per_token_per_ctx),
            ])?;
        }
        writer.flush()
    }

    /// Reads a cost table CSV, checking columns, numbers and the layer order
    /// (embed first, then blocks, head last, `layer` = 0, 1, 2, ...).
    pub fn read_csv(path: &Path, model: &str) -> Result<CostTable> {
        let mut csv = CsvFile::open(path)?;
        let required = csv.require(path, REQUIRED)?;
        let optional: Vec<Option<usize>> = OPTIONAL.iter().map(|n| csv.column(n)).collect();

        let mut layers = Vec::new();
        for row in csv.rows(path) {
            let row = row?;
            if layers.len() >= limits::MAX_LAYERS {
                return Err(row.bad(format!(
                    "more than {} rows: a cost table has at most that many layers",
                    limits::MAX_LAYERS
                )));
            }
            // Every column is a byte count except the FLOP columns and `params`.
            let number = |i: usize, name: &str| {
                let range = if name.contains("flop") {
                    limits::FLOP_PER_TOKEN
                } else {
                    limits::BYTES
                };
                row.range(i, name, range)
            };
            let layer: usize =
                row.parse(required[0], "column `layer`", "a layer index", |_| true)?;
            if layer != layers.len() {
                return Err(row.bad(format!(
                    "expected layer {} (rows must be in execution order 0, 1, 2, ...), got {layer}",
                    layers.len()
                )));
            }
            let kind = match row.text(required[1]) {
                "embed" => LayerKind::Embed,
                "block" => LayerKind::Block,
                "head" => LayerKind::Head,
                other => {
                    return Err(row.bad(format!(
                        "column `kind`: expected embed, block or head, got `{other}`"
                    )))
                }
            };
            let params_f = row.range(required[2], "params", limits::PARAMS)?;
            let param_bytes = number(required[3], "param_bytes")?;
            let opt = |i: usize, default: f64| -> Result<f64> {
                match row.filled(optional[i]) {
                    Some(idx) => number(idx, OPTIONAL[i]),
                    None => Ok(default),
                }
            };
            layers.push(LayerCost {
                layer,
                kind,
                params: params_f.round() as u64,
                param_bytes,
                fwd_flop_per_token: number(required[4], "fwd_flop_per_token")?,
                bwd_flop_per_token: number(required[5], "bwd_flop_per_token")?,
                attn_flop_per_token_per_ctx: number(required[6], "attn_flop_per_token_per_ctx")?,
                out_bytes_per_token: number(required[7], "out_bytes_per_token")?,
                kv_bytes_per_token: number(required[8], "kv_bytes_per_token")?,
                active_param_bytes: opt(0, param_bytes)?,
                tied_param_bytes: opt(1, 0.0)?,
                train_act_bytes_per_token: opt(2, 0.0)?,
                train_act_bytes_per_token_per_ctx: opt(3, 0.0)?,
            });
        }
        let table = CostTable {
            model: model.to_string(),
            dtype: None,
            layers,
        };
        table.check_shape().map_err(|message| Error::CsvLine {
            path: path.to_path_buf(),
            line: table.len() as u64 + 1,
            message,
        })?;
        Ok(table)
    }

    /// Checks that the rows are embed, block..., head.
    pub fn check_shape(&self) -> Result<(), String> {
        let n = self.layers.len();
        if n < 3 {
            return Err(format!(
                "a cost table needs an embed row, at least one block and a head row; got {n} rows"
            ));
        }
        for (i, l) in self.layers.iter().enumerate() {
            let expected = if i == 0 {
                LayerKind::Embed
            } else if i + 1 == n {
                LayerKind::Head
            } else {
                LayerKind::Block
            };
            if l.kind != expected {
                return Err(format!(
                    "layer {i} is `{}` but expected `{}` (embed first, head last, blocks between)",
                    l.kind.name(),
                    expected.name()
                ));
            }
        }
        Ok(())
    }
}

fn fmt_num(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// An opened CSV file (trimmed fields, `#` comment lines) with its header.
pub(crate) struct CsvFile {
    /// Record reader, positioned after the header.
    pub reader: csv::Reader<std::io::Take<std::fs::File>>,
    /// The header row.
    pub headers: csv::StringRecord,
}

impl CsvFile {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<CsvFile> {
        let file = crate::files::open(path)?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(file);
        let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
        Ok(CsvFile { reader, headers })
    }

    /// Index of an optional column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Indices of the required columns, in order; a missing one is an error on line 1 that
    /// lists them all.
    pub fn require<const N: usize>(&self, path: &Path, names: [&str; N]) -> Result<[usize; N]> {
        let mut idx = [0usize; N];
        for (slot, name) in idx.iter_mut().zip(names) {
            *slot = self.column(name).ok_or_else(|| Error::CsvLine {
                path: path.to_path_buf(),
                line: 1,
                message: format!(
                    "missing column `{name}`; required columns: {}",
                    names.join(",")
                ),
            })?;
        }
        Ok(idx)
    }

    /// The records after the header, each with its line number; a record the CSV reader cannot
    /// read is an error naming `path`.
    pub fn rows<'a>(&'a mut self, path: &'a Path) -> impl Iterator<Item = Result<CsvRow<'a>>> + 'a {
        self.reader.records().map(move |record| {
            let record = record.map_err(|e| csv_error(path, e))?;
            let line = record.position().map_or(0, |p| p.line());
            Ok(CsvRow { path, line, record })
        })
    }
}

/// One record of a [`CsvFile`] with its line number.
pub(crate) struct CsvRow<'a> {
    path: &'a Path,
    /// 1-based line number (the header is line 1).
    pub line: u64,
    record: csv::StringRecord,
}

impl CsvRow<'_> {
    /// Field `i` (trimmed; empty when the row is short).
    pub fn text(&self, i: usize) -> &str {
        self.record.get(i).unwrap_or("")
    }

    /// An error on this row's line.
    pub fn bad(&self, message: String) -> Error {
        Error::CsvLine {
            path: self.path.to_path_buf(),
            line: self.line,
            message,
        }
    }

    /// The column of an optional field when the header has it and this row fills it in.
    pub fn filled(&self, column: Option<usize>) -> Option<usize> {
        column.filter(|&i| !self.text(i).is_empty())
    }

    /// Field `i` parsed as a `T` that `valid` accepts; otherwise the error
    /// ``{label}: expected {expected}, got `{text}` ``.
    pub fn parse<T: std::str::FromStr>(
        &self,
        i: usize,
        label: &str,
        expected: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Result<T> {
        let text = self.text(i);
        text.parse()
            .ok()
            .filter(valid)
            .ok_or_else(|| self.bad(format!("{label}: expected {expected}, got `{text}`")))
    }

    /// Field `i` of column `name` as a number in `range`: ``column `{name}`: expected a number
    /// in [..], got `{text}` `` otherwise.
    pub fn range(&self, i: usize, name: &str, range: crate::limits::Range) -> Result<f64> {
        let label = format!("column `{name}`");
        let v: f64 = self.parse(i, &label, "a number", |_| true)?;
        if !range.contains(v) {
            return Err(self.bad(format!(
                "{label}: expected a number in {}, got `{}`",
                range.describe(),
                self.text(i)
            )));
        }
        Ok(v)
    }
}

pub(crate) fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.kind() {
        csv::ErrorKind::Io(_) => Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        },
        _ => Error::CsvLine {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        },
    }
}

/// Forward FLOP of one request: `prompt + generate` tokens through every layer, plus attention
/// over the context (prefill: `P (P + 1) / 2` key positions; decode step `i`: `P + i + 1`).
pub fn request_flop(table: &CostTable, prompt: usize, generate: usize) -> f64 {
    let p = prompt as f64;
    let g = generate as f64;
    let contexts = p * (p + 1.0) / 2.0 + g * p + g * (g + 1.0) / 2.0;
    table
        .layers
        .iter()
        .map(|l| l.fwd_flop_per_token * (p + g) + l.attn_flop_per_token_per_ctx * contexts)
        .sum()
}

//! Time series from CSV files with the columns `timestamp,value` (carbon intensity in gCO2/kWh,
//! renewable power in W, electricity price per kWh). Rows are taken in file order, one per slot;
//! timestamps are kept as written (ISO 8601 or a slot index) and must be unique.

use std::collections::HashSet;
use std::path::Path;

use crate::costs::table::{csv_error, CsvFile};
use crate::error::{Error, Result};

/// A loaded trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Timestamps as written.
    pub timestamps: Vec<String>,
    /// Values, one per row.
    pub values: Vec<f64>,
}

/// Reads a `timestamp,value` CSV; every value must be a finite number >= 0. Errors name the
/// file and line.
pub fn load(path: &Path) -> Result<Trace> {
    let mut csv = CsvFile::open(path)?;
    let [ts, value] = csv.require(path, ["timestamp", "value"])?;
    let mut trace = Trace {
        timestamps: Vec::new(),
        values: Vec::new(),
    };
    let mut seen = HashSet::new();
    for record in csv.reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let bad = |message: String| Error::CsvLine {
            path: path.to_path_buf(),
            line,
            message,
        };
        let stamp = record.get(ts).unwrap_or("").to_string();
        if stamp.is_empty() {
            return Err(bad("empty timestamp".into()));
        }
        if !seen.insert(stamp.clone()) {
            return Err(bad(format!("timestamp `{stamp}` appears twice")));
        }
        let text = record.get(value).unwrap_or("");
        let v: f64 = text
            .parse()
            .map_err(|_| bad(format!("value: expected a number, got `{text}`")))?;
        if !v.is_finite() || v < 0.0 {
            return Err(bad(format!(
                "value: expected a finite number >= 0, got {v}"
            )));
        }
        trace.timestamps.push(stamp);
        trace.values.push(v);
    }
    if trace.values.is_empty() {
        return Err(Error::CsvLine {
            path: path.to_path_buf(),
            line: 1,
            message: "no rows: expected one row per slot".into(),
        });
    }
    Ok(trace)
}

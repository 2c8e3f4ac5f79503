//! Time series from CSV files with the columns `timestamp,value` (carbon intensity in gCO2/kWh,
//! renewable power in W, electricity price per kWh). Rows are taken in file order, one per slot;
//! timestamps are kept as written (ISO 8601 or a slot index) and must be unique.

use std::collections::HashSet;
use std::path::Path;

use crate::costs::table::CsvFile;
use crate::error::{Error, Result};
use crate::limits::{self, Range};

/// A loaded trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Timestamps as written.
    pub timestamps: Vec<String>,
    /// Values, one per row.
    pub values: Vec<f64>,
}

/// Reads a `timestamp,value` CSV; every value must be a finite number >= 0, and the file has at
/// most [`limits::MAX_SLOTS`] rows. Errors name the file and line.
pub fn load(path: &Path) -> Result<Trace> {
    load_in(path, None)
}

/// [`load`] with every value checked against `range` as well (carbon intensity, price, power);
/// errors name the file and line.
pub fn load_in(path: &Path, range: Option<Range>) -> Result<Trace> {
    let mut csv = CsvFile::open(path)?;
    let [ts, value] = csv.require(path, ["timestamp", "value"])?;
    let mut trace = Trace {
        timestamps: Vec::new(),
        values: Vec::new(),
    };
    let mut seen = HashSet::new();
    for row in csv.rows(path) {
        let row = row?;
        if trace.values.len() == limits::MAX_SLOTS {
            return Err(row.bad(format!(
                "more than {} rows: a trace has at most one row per slot of the longest horizon",
                limits::MAX_SLOTS
            )));
        }
        let stamp = row.text(ts).to_string();
        if stamp.is_empty() {
            return Err(row.bad("empty timestamp".into()));
        }
        if !seen.insert(stamp.clone()) {
            return Err(row.bad(format!("timestamp `{stamp}` appears twice")));
        }
        let v: f64 = row.parse(value, "value", "a number", |_| true)?;
        if !v.is_finite() || v < 0.0 {
            return Err(row.bad(format!("value: expected a finite number >= 0, got {v}")));
        }
        if let Some(range) = range {
            if !range.contains(v) {
                return Err(row.bad(format!(
                    "value: expected a number in {}, got {v}",
                    range.describe()
                )));
            }
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

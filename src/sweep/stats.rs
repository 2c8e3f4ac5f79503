//! Merging run files and summarising them per group: count, mean, sample standard deviation and
//! a Student-t confidence interval of the mean.
//!
//! For a group of `n` values with mean `m` and sample standard deviation `s` (divisor `n - 1`),
//! the interval at level `L` is `m -/+ t_{(1+L)/2, n-1} s / sqrt(n)`, with the quantile from
//! `statrs`' Student t distribution. A group of one value has no standard deviation and no
//! interval (empty cells).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::record::{csv_error, read_header, TIME_COLUMNS};
use crate::error::{Error, Result};

/// Rows of one or more run files with the same columns.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, sorted by sweep and run id when the files have those columns.
    pub rows: Vec<Vec<String>>,
    /// Rows dropped because another file held the same run with the same results.
    pub duplicates: usize,
}

impl Runs {
    /// Index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Writes the rows as CSV.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut w = super::record::RowWriter::create(path, &self.columns)?;
        for row in &self.rows {
            w.write(row)?;
        }
        Ok(())
    }
}

/// Reads and merges run files (e.g. the shards of one sweep). Every file must have the same
/// columns. A run (sweep and run id) in two files is kept once when both rows agree on every
/// column but the times ([`TIME_COLUMNS`]), and is an error when they differ (overlapping
/// shards of different sweeps).
pub fn read_runs(paths: &[PathBuf]) -> Result<Runs> {
    let mut runs = Runs::default();
    let mut seen: HashMap<(String, u64), (PathBuf, u64, usize)> = HashMap::new();
    for path in paths {
        let bytes = crate::files::read_bytes(path)?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes.as_slice());
        let header = read_header(&mut reader, path)?;
        if runs.columns.is_empty() {
            runs.columns = header;
        } else if header != runs.columns {
            return Err(Error::CsvLine {
                path: path.clone(),
                line: 1,
                message: format!(
                    "its columns differ from those of {}: merge only files of one sweep",
                    paths[0].display()
                ),
            });
        }
        let (sweep_col, run_col) = (runs.column("sweep"), runs.column("run"));
        let times: Vec<usize> = TIME_COLUMNS.iter().filter_map(|c| runs.column(c)).collect();
        for (i, record) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let record = record.map_err(|e| csv_error(path, line, e))?;
            let row: Vec<String> = record.iter().map(String::from).collect();
            // edgeplan never writes a non-finite number; one in a run file is an edit.
            if let Some((c, cell)) = row
                .iter()
                .enumerate()
                .find(|(_, cell)| cell.parse::<f64>().is_ok_and(|v| !v.is_finite()))
            {
                return Err(Error::CsvLine {
                    path: path.clone(),
                    line,
                    message: format!(
                        "`{}`: expected a finite number or an empty cell, got `{cell}`",
                        runs.columns[c]
                    ),
                });
            }
            if let (Some(sc), Some(rc)) = (sweep_col, run_col) {
                let run: u64 = row[rc].parse().map_err(|_| Error::CsvLine {
                    path: path.clone(),
                    line,
                    message: format!("`run`: expected a run id, got `{}`", row[rc]),
                })?;
                let key = (row[sc].clone(), run);
                if let Some((first, first_line, index)) = seen.get(&key) {
                    let same = runs.rows[*index]
                        .iter()
                        .zip(&row)
                        .enumerate()
                        .all(|(c, (a, b))| times.contains(&c) || a == b);
                    if same {
                        runs.duplicates += 1;
                        continue;
                    }
                    return Err(Error::CsvLine {
                        path: path.clone(),
                        line,
                        message: format!(
                            "run {run} of sweep `{}` is also at {}:{first_line} with different \
                             results; do the shards overlap?",
                            key.0,
                            first.display()
                        ),
                    });
                }
                seen.insert(key, (path.clone(), line, runs.rows.len()));
            }
            runs.rows.push(row);
        }
    }
    if let (Some(sc), Some(rc)) = (runs.column("sweep"), runs.column("run")) {
        runs.rows.sort_by(|a, b| {
            (a[sc].as_str(), a[rc].parse::<u64>().unwrap_or(0))
                .cmp(&(b[sc].as_str(), b[rc].parse::<u64>().unwrap_or(0)))
        });
    }
    Ok(runs)
}

/// Statistics of one metric over one group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupStats {
    /// The group's values of the `by` columns.
    pub key: Vec<String>,
    /// The metric.
    pub metric: String,
    /// Values (rows with a number in the metric's column).
    pub count: usize,
    /// Rows of the group without a value (no plan, an error).
    pub missing: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (`None` for one value).
    pub std: Option<f64>,
    /// Lower end of the confidence interval of the mean.
    pub ci_low: Option<f64>,
    /// Upper end of the confidence interval of the mean.
    pub ci_high: Option<f64>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// What to summarise.
#[derive(Debug, Clone)]
pub struct SummaryOptions {
    /// Group by these columns.
    pub by: Vec<String>,
    /// Summarise these numeric columns.
    pub metrics: Vec<String>,
    /// Keep only rows where each `(column, value)` matches.
    pub filters: Vec<(String, String)>,
    /// Confidence level of the interval, in (0, 1).
    pub level: f64,
}

/// Mean, standard deviation and `level` confidence interval of `values` (at least one).
pub fn mean_ci(values: &[f64], level: f64) -> (f64, Option<f64>, Option<(f64, f64)>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, None, None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let std = var.sqrt();
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .expect("n - 1 >= 1 degrees of freedom")
        .inverse_cdf(0.5 + level / 2.0);
    let half = t * std / n.sqrt();
    (mean, Some(std), Some((mean - half, mean + half)))
}

/// Groups `runs` by `options.by` and summarises each metric; groups sort numerically where
/// their values are numbers.
pub fn summarize(runs: &Runs, source: &Path, options: &SummaryOptions) -> Result<Vec<GroupStats>> {
    if !(options.level > 0.0 && options.level < 1.0) {
        return Err(Error::option(
            "level",
            format!(
                "expected a confidence level in (0, 1), got {}",
                options.level
            ),
        ));
    }
    let column = |name: &str, what: &str| {
        runs.column(name).ok_or_else(|| {
            Error::option(
                what,
                format!(
                    "no column `{name}` in {}; columns: {}",
                    source.display(),
                    runs.columns.join(", ")
                ),
            )
        })
    };
    let by: Vec<usize> = options
        .by
        .iter()
        .map(|c| column(c, "by"))
        .collect::<Result<_>>()?;
    let metrics: Vec<usize> = options
        .metrics
        .iter()
        .map(|c| column(c, "metric"))
        .collect::<Result<_>>()?;
    let filters: Vec<(usize, &str)> = options
        .filters
        .iter()
        .map(|(c, v)| Ok((column(c, "where")?, v.as_str())))
        .collect::<Result<_>>()?;
    let mut groups: BTreeMap<Vec<SortKey>, Vec<&Vec<String>>> = BTreeMap::new();
    for row in &runs.rows {
        if filters.iter().all(|&(c, v)| row[c] == v) {
            let key = by.iter().map(|&c| SortKey(row[c].clone())).collect();
            groups.entry(key).or_default().push(row);
        }
    }
    let mut out = Vec::with_capacity(groups.len() * metrics.len());
    for (key, rows) in &groups {
        for (m, &mc) in metrics.iter().enumerate() {
            let mut values = Vec::with_capacity(rows.len());
            let mut missing = 0;
            for row in rows {
                let cell = row[mc].trim();
                if cell.is_empty() {
                    missing += 1;
                    continue;
                }
                let v: f64 = cell.parse().map_err(|_| {
                    Error::option(
                        "metric",
                        format!(
                            "column `{}` holds `{cell}`, not a number (run {})",
                            options.metrics[m],
                            runs.column("run").map_or("?", |c| row[c].as_str())
                        ),
                    )
                })?;
                values.push(v);
            }
            let key: Vec<String> = key.iter().map(|k| k.0.clone()).collect();
            if values.is_empty() {
                out.push(GroupStats {
                    key,
                    metric: options.metrics[m].clone(),
                    count: 0,
                    missing,
                    mean: f64::NAN,
                    std: None,
                    ci_low: None,
                    ci_high: None,
                    min: f64::NAN,
                    max: f64::NAN,
                });
                continue;
            }
            let (mean, std, ci) = mean_ci(&values, options.level);
            out.push(GroupStats {
                key,
                metric: options.metrics[m].clone(),
                count: values.len(),
                missing,
                mean,
                std,
                ci_low: ci.map(|c| c.0),
                ci_high: ci.map(|c| c.1),
                min: values.iter().copied().fold(f64::INFINITY, f64::min),
                max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            });
        }
    }
    Ok(out)
}

/// A group value that sorts numerically when both sides are numbers, else as text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SortKey(String);

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.0.parse::<f64>(), other.0.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.total_cmp(&b).then_with(|| self.0.cmp(&other.0)),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            _ => self.0.cmp(&other.0),
        }
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked example: values 1..5 have mean 3 and sample std sqrt(2.5) = 1.5811; with 4 degrees
    /// of freedom t_{0.975} = 2.7764 (standard t table), so the 95% interval is
    /// 3 -/+ 2.7764 x 1.5811 / sqrt(5) = 3 -/+ 1.9632.
    #[test]
    fn student_t_interval() {
        let (mean, std, ci) = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95);
        assert_eq!(mean, 3.0);
        approx::assert_abs_diff_eq!(std.unwrap(), 2.5f64.sqrt(), epsilon = 1e-12);
        let (lo, hi) = ci.unwrap();
        approx::assert_abs_diff_eq!(hi - 3.0, 1.9632, epsilon = 1e-4);
        approx::assert_abs_diff_eq!(3.0 - lo, 1.9632, epsilon = 1e-4);
        // Two values, 1 degree of freedom: t_{0.975} = 12.706.
        let (_, _, ci) = mean_ci(&[0.0, 2.0], 0.95);
        approx::assert_abs_diff_eq!(
            ci.unwrap().1,
            1.0 + 12.7062 * 2f64.sqrt() / 2f64.sqrt(),
            epsilon = 1e-3
        );
        // One value: no spread.
        assert_eq!(mean_ci(&[4.0], 0.95), (4.0, None, None));
    }

    /// Group values sort as numbers when they are numbers.
    #[test]
    fn numeric_group_order() {
        let mut keys = [
            SortKey("100".into()),
            SortKey("20".into()),
            SortKey("b".into()),
            SortKey("5".into()),
        ];
        keys.sort();
        let keys: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        assert_eq!(keys, ["5", "20", "100", "b"]);
    }
}

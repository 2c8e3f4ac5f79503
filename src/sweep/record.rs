//! The tidy CSV of a sweep: one row per run, written as each run finishes, and read back to
//! resume.
//!
//! Columns: `run` (the run's id: its position in grid point x seed x solver order), `sweep`,
//! `problem`, `instance`, one column per grid parameter, `seed`, `solver`, `termination`,
//! `primal_status`, `objective`, `bound`, `gap`, `nodes`, `generate_s`, `build_s`, `solve_s`,
//! the problem's metrics ([`super::run::metric_names`]), `violations`, `error`, `version`.
//! Empty cells mean "none" (no plan, no bound, no error). Numbers are written in the shortest
//! form that reads back to the same value.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::run::{metric_names, Outcome};
use super::spec::{cell, Sweep};
use crate::error::{Error, Result};

/// Columns that hold wall-clock times: they differ between two executions of the same run.
pub const TIME_COLUMNS: [&str; 3] = ["generate_s", "build_s", "solve_s"];

/// The crate version written in every row.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The columns before the grid parameters.
pub const LEADING_COLUMNS: [&str; 4] = ["run", "sweep", "problem", "instance"];

/// The columns between the grid parameters and the problem's metrics.
pub const OUTCOME_COLUMNS: [&str; 11] = [
    "seed",
    "solver",
    "termination",
    "primal_status",
    "objective",
    "bound",
    "gap",
    "nodes",
    "generate_s",
    "build_s",
    "solve_s",
];

/// The last columns.
pub const TRAILING_COLUMNS: [&str; 3] = ["violations", "error", "version"];

/// The header of a sweep's CSV.
pub fn header(sweep: &Sweep) -> Vec<String> {
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut columns = names(&LEADING_COLUMNS);
    columns.extend(sweep.parameters.iter().cloned());
    columns.extend(names(&OUTCOME_COLUMNS));
    columns.extend(names(metric_names(sweep.problem)));
    columns.extend(names(&TRAILING_COLUMNS));
    columns
}

/// A float cell (empty for `None`): the shortest text that reads back to the same value, in
/// scientific notation when very small or very large.
fn num(value: Option<f64>) -> String {
    value.map(float).unwrap_or_default()
}

/// `v` as the shortest text that reads back to it (`1.5`, `2.8e-15`, `6.74e9`).
pub fn float(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-4..1e15).contains(&a) {
        v.to_string()
    } else {
        format!("{v:e}")
    }
}

/// The cells that identify run `run`: its id, sweep, problem, grid values, seed and solver, with
/// their column indices. A resumed file must agree with the sweep on every one.
fn identity(sweep: &Sweep, run: usize) -> Vec<(usize, String)> {
    let unit = run / sweep.solvers.len();
    let (point, seed) = sweep.unit(unit);
    let mut cells = vec![
        (0, run.to_string()),
        (1, sweep.name.clone()),
        (2, sweep.problem.name().to_string()),
    ];
    let p = sweep.parameters.len();
    for (i, v) in sweep.points[point].iter().enumerate() {
        cells.push((4 + i, cell(v)));
    }
    cells.push((4 + p, sweep.seeds[seed].to_string()));
    cells.push((5 + p, sweep.solvers[run % sweep.solvers.len()].name.clone()));
    cells
}

/// The row of run `run`: `instance` is the instance name (empty when it could not be built),
/// `result` the outcome or the error message.
pub fn row(
    sweep: &Sweep,
    run: usize,
    instance: &str,
    generate_s: f64,
    result: &std::result::Result<Outcome, String>,
) -> Vec<String> {
    let mut cells: Vec<String> = identity(sweep, run).into_iter().map(|(_, c)| c).collect();
    cells.insert(3, instance.to_string());
    let metrics = metric_names(sweep.problem).len();
    match result {
        Ok(outcome) => {
            let s = &outcome.stats;
            cells.extend([
                s.termination.name().to_string(),
                s.primal_status.name().to_string(),
                num(s.objective),
                num(s.bound),
                num(s.gap),
                s.nodes.map(|n| n.to_string()).unwrap_or_default(),
                float(generate_s),
                float(s.build_s),
                float(s.solve_s),
            ]);
            cells.extend(outcome.metrics.iter().map(|m| num(*m)));
            cells.push(
                outcome
                    .violations
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            );
            cells.push(String::new());
        }
        Err(message) => {
            cells.extend([
                "error".to_string(),
                "no_plan".to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                float(generate_s),
                String::new(),
                String::new(),
            ]);
            cells.extend(std::iter::repeat_n(String::new(), metrics + 1));
            cells.push(message.clone());
        }
    }
    cells.push(VERSION.to_string());
    cells
}

/// One CSV line (with its newline) of `cells`.
pub fn csv_line(cells: &[String]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::with_capacity(256));
    writer
        .write_record(cells)
        .expect("writing CSV to memory cannot fail");
    writer
        .into_inner()
        .expect("flushing CSV to memory cannot fail")
}

/// Appends whole rows to a run file. Each row is one `write` of a complete line, so a killed
/// sweep leaves at most one partial last line, which [`read_done`] drops.
#[derive(Debug)]
pub struct RowWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl RowWriter {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path, header: &[String]) -> Result<RowWriter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        file.write_all(&csv_line(header))
            .map_err(|e| Error::io(path, e))?;
        Ok(RowWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens `path` for appending (after [`read_done`] checked it).
    pub fn append(path: &Path) -> Result<RowWriter> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(RowWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one row.
    pub fn write(&mut self, cells: &[String]) -> Result<()> {
        self.file
            .write_all(&csv_line(cells))
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// What a run file already holds.
#[derive(Debug, Default)]
pub struct Done {
    /// Runs with a row.
    pub runs: BTreeSet<usize>,
    /// Of those, runs whose row records an error.
    pub errors: BTreeSet<usize>,
    /// Whether an incomplete last line (a run killed while writing) was dropped.
    pub dropped_partial_line: bool,
}

/// Reads the runs `path` already holds, checking that it was written by this sweep: same
/// columns, and each row's id, grid values, seed and solver as the sweep defines that run.
/// `in_shard` says whether a run id belongs to the shard being resumed. An incomplete last line
/// is cut off the file; a run that appears twice is an error.
pub fn read_done(path: &Path, sweep: &Sweep, in_shard: &dyn Fn(usize) -> bool) -> Result<Done> {
    let mut bytes = crate::files::read_bytes(path)?;
    let mut done = Done::default();
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(keep);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.set_len(keep as u64).map_err(|e| Error::io(path, e))?;
        done.dropped_partial_line = true;
    }
    let expected = header(sweep);
    if bytes.is_empty() {
        // Killed before the header was complete: start the file again.
        RowWriter::create(path, &expected)?;
        return Ok(done);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let found = read_header(&mut reader, path)?;
    if found != expected {
        let at = found
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(found.len().min(expected.len()));
        return Err(Error::CsvLine {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "the columns differ from those of sweep `{}` (column {}: file has `{}`, sweep \
                 has `{}`); it was written by another sweep file or version: write to a new file",
                sweep.name,
                at + 1,
                found.get(at).map_or("(none)", |s| s.as_str()),
                expected.get(at).map_or("(none)", |s| s.as_str()),
            ),
        });
    }
    let error_col = expected.len() - 2;
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| csv_error(path, line, e))?;
        let bad = |message: String| Error::CsvLine {
            path: path.to_path_buf(),
            line,
            message,
        };
        let run: usize = record[0]
            .parse()
            .map_err(|_| bad(format!("`run`: expected a run id, got `{}`", &record[0])))?;
        if run >= sweep.runs() {
            return Err(bad(format!(
                "run {run} does not exist: sweep `{}` has {} runs; was the sweep file changed?",
                sweep.name,
                sweep.runs()
            )));
        }
        for (col, want) in identity(sweep, run) {
            if record[col] != want {
                return Err(bad(format!(
                    "run {run} has {} = `{}` in the file but `{want}` in sweep `{}`; was the \
                     sweep file changed? Write to a new file",
                    expected[col], &record[col], sweep.name
                )));
            }
        }
        if !in_shard(run) {
            return Err(bad(format!(
                "run {run} belongs to another shard: resume each shard from its own file"
            )));
        }
        if !done.runs.insert(run) {
            return Err(bad(format!(
                "run {run} appears twice; the file was edited or written by two sweeps at once"
            )));
        }
        if !record[error_col].is_empty() {
            done.errors.insert(run);
        }
    }
    Ok(done)
}

/// Rewrites `path` without the rows of `runs` (to run them again); atomic through a temporary
/// file and a rename.
pub fn drop_rows(path: &Path, runs: &BTreeSet<usize>) -> Result<()> {
    let text = crate::files::read_bytes(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_slice());
    let header = read_header(&mut reader, path)?;
    let tmp = path.with_extension("csv.tmp");
    let mut out = RowWriter::create(&tmp, &header)?;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| csv_error(path, i as u64 + 2, e))?;
        let run: usize = record[0].parse().unwrap_or(usize::MAX);
        if !runs.contains(&run) {
            out.write(&record.iter().map(String::from).collect::<Vec<_>>())?;
        }
    }
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The header of a CSV being read from `path`.
pub(crate) fn read_header<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    path: &Path,
) -> Result<Vec<String>> {
    Ok(reader
        .headers()
        .map_err(|e| csv_error(path, 1, e))?
        .iter()
        .map(String::from)
        .collect())
}

/// A CSV reader error at `line`.
pub(crate) fn csv_error(path: &Path, line: u64, e: csv::Error) -> Error {
    let line = e.position().map_or(line, |p| p.line());
    Error::CsvLine {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    }
}

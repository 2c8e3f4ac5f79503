//! Writing a MILP as a CPLEX-LP or free-MPS file that other solvers read (CBC, HiGHS, Gurobi,
//! PuLP's MPS reader), in the units and sense of the report: the objective unscaled, with its
//! constant term, maximised where the problem maximises, and the variables and rows under the
//! names the model builders gave them (sanitised for the formats).
//!
//! The constant term is written as a column `objective_constant` fixed at 1: LP and MPS readers
//! disagree on the sign of an objective constant in the `RHS` section, and some LP readers drop a
//! bare number in the objective. A MIP start is written beside the model in the solution format
//! CBC reads with `mipstart` (`index name value` lines).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whether the objective is minimised or maximised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// Minimise.
    Minimise,
    /// Maximise.
    Maximise,
}

/// A column of an exported model.
#[derive(Debug, Clone)]
pub struct Column {
    /// Name the builder gave it (empty: a default `v<index>` is used).
    pub name: String,
    /// Lower bound (may be `-inf`).
    pub lower: f64,
    /// Upper bound (may be `inf`).
    pub upper: f64,
    /// Whether the column is integer.
    pub integer: bool,
}

/// A row `sum terms <= rhs` or `sum terms = rhs` of an exported model.
#[derive(Debug, Clone)]
pub struct Row {
    /// Name the builder gave it (empty: a default `r<index>` is used).
    pub name: String,
    /// `(column, coefficient)`, in any order.
    pub terms: Vec<(usize, f64)>,
    /// Equality rather than `<=`.
    pub equality: bool,
    /// Right-hand side.
    pub rhs: f64,
}

/// A MILP as it is exported.
#[derive(Debug, Clone)]
pub struct Model {
    /// Comment lines at the top of the file (instance, problem, what the objective is).
    pub header: Vec<String>,
    /// Objective sense.
    pub sense: Sense,
    /// Objective coefficients `(column, coefficient)`.
    pub objective: Vec<(usize, f64)>,
    /// Objective constant term.
    pub constant: f64,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows.
    pub rows: Vec<Row>,
    /// MIP start `(column, value)`, possibly partial; empty when none is set.
    pub start: Vec<(usize, f64)>,
}

/// The longest name written (CBC's LP reader accepts up to 100 characters); longer names are cut
/// and made unique by a suffix.
const MAX_NAME: usize = 96;

/// The name of the column that carries the objective's constant.
const CONSTANT_COLUMN: &str = "objective_constant";

/// Terms per line in an LP file (readers have line-length limits).
const TERMS_PER_LINE: usize = 8;

/// `name` made safe for LP and MPS files: letters, digits and `_ . , ( )`; brackets become
/// parentheses (`x[s3,m2]` is `x(s3,m2)`), other characters `_`; a name that would start with a
/// digit, `.` or `e`/`E` (read as a number's exponent) gets a leading `_`; cut to [`MAX_NAME`].
pub fn sanitise(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c {
            '[' => '(',
            ']' => ')',
            c if c.is_ascii_alphanumeric() || "_.,()".contains(c) => c,
            _ => '_',
        })
        .collect();
    if out
        .chars()
        .next()
        .is_none_or(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E')
    {
        out.insert(0, '_');
    }
    out.truncate(MAX_NAME);
    out
}

/// Unique sanitised names: `names[i]` sanitised, or `default(i)` when empty, with `_2`, `_3`...
/// appended to repeats; `used` holds names already taken (and gets these).
fn unique_names(
    names: impl Iterator<Item = String>,
    default: impl Fn(usize) -> String,
    used: &mut HashSet<String>,
) -> Vec<String> {
    names
        .enumerate()
        .map(|(i, n)| {
            let base = if n.is_empty() {
                default(i)
            } else {
                sanitise(&n)
            };
            let mut name = base.clone();
            let mut k = 2;
            while !used.insert(name.clone()) {
                name = format!("{base}_{k}");
                k += 1;
            }
            name
        })
        .collect()
}

/// A number as LP and MPS readers parse it exactly (shortest round-trip form; exponent notation
/// far from 1).
fn number(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".to_string()
    } else if (1e-5..1e15).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// The sense of a row as written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Le,
    Ge,
    Eq,
}

/// A row as written: terms sorted by column, zeros dropped, its sense and right-hand side.
struct Written {
    terms: Vec<(usize, f64)>,
    op: Op,
    rhs: f64,
}

/// The model with its names resolved: column names, row names, the constant column's index
/// (when the constant is not zero) and each row's terms sorted by column, zeros dropped, and
/// turned into `>=` where most coefficients are negative (how builders wrote them).
struct Resolved<'a> {
    model: &'a Model,
    columns: Vec<String>,
    rows: Vec<String>,
    constant: Option<String>,
    objective: Vec<(usize, f64)>,
    written: Vec<Written>,
}

impl<'a> Resolved<'a> {
    fn new(model: &'a Model) -> Resolved<'a> {
        let mut used: HashSet<String> = ["obj", CONSTANT_COLUMN]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let columns = unique_names(
            model.columns.iter().map(|c| c.name.clone()),
            |i| format!("v{i}"),
            &mut used,
        );
        let rows = unique_names(
            model.rows.iter().map(|r| r.name.clone()),
            |i| format!("r{i}"),
            &mut used,
        );
        let sorted = |terms: &[(usize, f64)]| {
            let mut t: Vec<(usize, f64)> =
                terms.iter().copied().filter(|&(_, c)| c != 0.0).collect();
            t.sort_by_key(|&(col, _)| col);
            t
        };
        let written = model
            .rows
            .iter()
            .map(|r| {
                let terms = sorted(&r.terms);
                let negative = terms.iter().filter(|&&(_, c)| c < 0.0).count();
                if r.equality {
                    Written {
                        terms,
                        op: Op::Eq,
                        rhs: r.rhs,
                    }
                } else if 2 * negative > terms.len() {
                    Written {
                        terms: terms.iter().map(|&(col, c)| (col, -c)).collect(),
                        op: Op::Ge,
                        rhs: -r.rhs,
                    }
                } else {
                    Written {
                        terms,
                        op: Op::Le,
                        rhs: r.rhs,
                    }
                }
            })
            .collect();
        Resolved {
            model,
            columns,
            rows,
            constant: (model.constant != 0.0).then(|| CONSTANT_COLUMN.to_string()),
            objective: sorted(&model.objective),
            written,
        }
    }

    /// The header as comment lines starting with `mark`, with the sense, the constant and the
    /// MIP start explained (`mps`: the notes on MPS readers).
    fn header(&self, mark: &str, mps: bool) -> String {
        let model = self.model;
        let mut lines = model.header.clone();
        lines.push(match (model.sense, mps) {
            (Sense::Minimise, _) => "sense: minimise".to_string(),
            (Sense::Maximise, false) => "sense: maximise".to_string(),
            (Sense::Maximise, true) => "sense: maximise (OBJSENSE MAX; CBC ignores that section: \
                 run `cbc FILE.mps max solve`; PuLP takes the sense as an argument: \
                 LpProblem.fromMPS(FILE.mps, sense=LpMaximize))"
                .to_string(),
        });
        if let Some(name) = &self.constant {
            lines.push(format!(
                "the objective's constant term is the coefficient of {name}, a column fixed at 1"
            ));
        }
        if !model.start.is_empty() {
            lines.push(
                "a MIP start is beside this file as FILE.start.sol \
                 (`cbc FILE mipstart FILE.start.sol solve`)"
                    .to_string(),
            );
        }
        let mut out = String::new();
        for line in lines {
            let _ = writeln!(out, "{mark} {line}");
        }
        out
    }
}

/// Appends ` + 3 x + -2 y ...` (LP term syntax) to `out`, breaking lines.
fn lp_terms(out: &mut String, terms: &[(usize, f64)], names: &[String]) {
    for (k, &(col, c)) in terms.iter().enumerate() {
        if k > 0 && k % TERMS_PER_LINE == 0 {
            out.push_str("\n   ");
        }
        let sign = if c < 0.0 { '-' } else { '+' };
        let _ = write!(out, " {sign} {} {}", number(c.abs()), names[col]);
    }
}

/// The model as a CPLEX-LP file.
pub fn lp(model: &Model) -> String {
    let r = Resolved::new(model);
    let mut out = r.header("\\", false);
    out.push_str(match model.sense {
        Sense::Minimise => "Minimize\n",
        Sense::Maximise => "Maximize\n",
    });
    out.push_str(" obj:");
    lp_terms(&mut out, &r.objective, &r.columns);
    if let Some(name) = &r.constant {
        let sign = if model.constant < 0.0 { '-' } else { '+' };
        let _ = write!(out, " {sign} {} {name}", number(model.constant.abs()));
    }
    if r.objective.is_empty() && r.constant.is_none() {
        // An objective with no terms: a zero term keeps the line well-formed.
        let _ = write!(out, " 0 {}", r.columns.first().map_or("v0", |s| s.as_str()));
    }
    out.push_str("\nSubject To\n");
    for (row, name) in r.written.iter().zip(&r.rows) {
        let _ = write!(out, " {name}:");
        if row.terms.is_empty() {
            let _ = write!(out, " 0 {}", r.columns.first().map_or("v0", |s| s.as_str()));
        }
        lp_terms(&mut out, &row.terms, &r.columns);
        let op = match row.op {
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Le => "<=",
        };
        let _ = writeln!(out, " {op} {}", number(row.rhs));
    }
    out.push_str("Bounds\n");
    for (c, name) in model.columns.iter().zip(&r.columns) {
        let (lo, hi) = (c.lower, c.upper);
        if is_binary(c) || (lo == 0.0 && hi == f64::INFINITY) {
            continue;
        }
        let line = if lo == hi {
            format!(" {name} = {}", number(lo))
        } else if lo == f64::NEG_INFINITY && hi == f64::INFINITY {
            format!(" {name} free")
        } else if hi == f64::INFINITY {
            format!(" {name} >= {}", number(lo))
        } else if lo == f64::NEG_INFINITY {
            format!(" -inf <= {name} <= {}", number(hi))
        } else {
            format!(" {} <= {name} <= {}", number(lo), number(hi))
        };
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(name) = &r.constant {
        let _ = writeln!(out, " {name} = 1");
    }
    let section = |out: &mut String, title: &str, pick: &dyn Fn(&Column) -> bool| {
        let names: Vec<&String> = model
            .columns
            .iter()
            .zip(&r.columns)
            .filter(|(c, _)| pick(c))
            .map(|(_, n)| n)
            .collect();
        if names.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}");
        for chunk in names.chunks(TERMS_PER_LINE) {
            let line: Vec<&str> = chunk.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(out, " {}", line.join(" "));
        }
    };
    section(&mut out, "Generals", &|c| c.integer && !is_binary(c));
    section(&mut out, "Binaries", &is_binary);
    out.push_str("End\n");
    out
}

/// Whether a column is binary (integer within `[0, 1]`).
fn is_binary(c: &Column) -> bool {
    c.integer && c.lower == 0.0 && c.upper == 1.0
}

/// The model as a free-MPS file: integer columns between `MARKER INTORG/INTEND` lines, binaries
/// as `BV` bounds, others as `UP`/`LO`/`FX`/`FR`/`MI`/`PL` (no `UI`/`LI`, which some readers lack).
pub fn mps(model: &Model) -> String {
    let r = Resolved::new(model);
    let mut out = r.header("*", true);
    out.push_str("NAME edgeplan\n");
    if model.sense == Sense::Maximise {
        out.push_str("OBJSENSE\n    MAX\n");
    }
    out.push_str("ROWS\n N  obj\n");
    for (row, name) in r.written.iter().zip(&r.rows) {
        let kind = match row.op {
            Op::Eq => 'E',
            Op::Ge => 'G',
            Op::Le => 'L',
        };
        let _ = writeln!(out, " {kind}  {name}");
    }
    // Column-major entries: (row, coefficient), the objective as row `usize::MAX`.
    let mut entries: Vec<Vec<(usize, f64)>> = vec![Vec::new(); model.columns.len()];
    for &(col, c) in &r.objective {
        entries[col].push((usize::MAX, c));
    }
    for (i, row) in r.written.iter().enumerate() {
        for &(col, c) in &row.terms {
            entries[col].push((i, c));
        }
    }
    out.push_str("COLUMNS\n");
    let mut in_integers = false;
    let mut markers = 0;
    for (col, c) in model.columns.iter().enumerate() {
        if c.integer != in_integers {
            let kind = if c.integer { "INTORG" } else { "INTEND" };
            let _ = writeln!(out, "    MARKER{markers} 'MARKER' '{kind}'");
            markers += 1;
            in_integers = c.integer;
        }
        let name = &r.columns[col];
        if entries[col].is_empty() {
            // A column in no row still needs a line to exist.
            let _ = writeln!(out, "    {name} obj 0");
        }
        for &(row, v) in &entries[col] {
            let row = if row == usize::MAX {
                "obj"
            } else {
                &r.rows[row]
            };
            let _ = writeln!(out, "    {name} {row} {}", number(v));
        }
    }
    if in_integers {
        let _ = writeln!(out, "    MARKER{markers} 'MARKER' 'INTEND'");
    }
    if let Some(name) = &r.constant {
        let _ = writeln!(out, "    {name} obj {}", number(model.constant));
    }
    out.push_str("RHS\n");
    for (row, name) in r.written.iter().zip(&r.rows) {
        if row.rhs != 0.0 {
            let _ = writeln!(out, "    RHS {name} {}", number(row.rhs));
        }
    }
    out.push_str("BOUNDS\n");
    for (c, name) in model.columns.iter().zip(&r.columns) {
        let (lo, hi) = (c.lower, c.upper);
        if is_binary(c) {
            let _ = writeln!(out, " BV BND {name}");
            continue;
        }
        if lo == hi {
            let _ = writeln!(out, " FX BND {name} {}", number(lo));
            continue;
        }
        match (lo == f64::NEG_INFINITY, hi == f64::INFINITY) {
            (true, true) => {
                let _ = writeln!(out, " FR BND {name}");
            }
            (true, false) => {
                let _ = writeln!(out, " MI BND {name}");
            }
            (false, _) if lo != 0.0 => {
                let _ = writeln!(out, " LO BND {name} {}", number(lo));
            }
            _ => {}
        }
        if hi != f64::INFINITY {
            let _ = writeln!(out, " UP BND {name} {}", number(hi));
        } else if c.integer && lo == 0.0 {
            // Some readers give an integer column without a bound line an upper bound of 1.
            let _ = writeln!(out, " PL BND {name}");
        }
    }
    if let Some(name) = &r.constant {
        let _ = writeln!(out, " FX BND {name} 1");
    }
    out.push_str("ENDATA\n");
    out
}

/// The MIP start in the solution format CBC's `mipstart` reads: a title line, then
/// `index name value` per set column (and the constant column at 1).
pub fn start(model: &Model) -> String {
    let r = Resolved::new(model);
    let mut out = String::from("MIP start written by edgeplan\n");
    for (k, &(col, v)) in model.start.iter().enumerate() {
        let _ = writeln!(out, "{k} {} {}", r.columns[col], number(v));
    }
    if let Some(name) = &r.constant {
        let _ = writeln!(out, "{} {name} 1", model.start.len());
    }
    out
}

/// The header lines of a problem's exported model: `problem`, `instance` and what the objective
/// is (`objective`, e.g. "the expected latency, s").
pub fn header(problem: &str, instance: &str, objective: &str) -> Vec<String> {
    vec![
        format!("problem: {problem}"),
        format!("instance: {instance}"),
        format!("objective: {objective}"),
    ]
}

/// Where the MIP start of a model written to `path` goes: `model.lp` -> `model.start.sol`.
pub fn start_path(path: &Path) -> PathBuf {
    path.with_extension("start.sol")
}

/// Writes `model` to `path` (LP or MPS by extension) and, when it has a MIP start, the start to
/// [`start_path`]; a file that cannot be written is an I/O error naming it.
pub fn write(model: &Model, path: &Path) -> Result<()> {
    super::milp::check_model_extension(path)?;
    let text = match path.extension().and_then(|e| e.to_str()) {
        Some("mps") => mps(model),
        _ => lp(model),
    };
    write_file(path, &text)?;
    if !model.start.is_empty() {
        write_file(&start_path(path), &start(model))?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_and_unique() {
        assert_eq!(sanitise("x[server3,llama-2-7b]"), "x(server3,llama_2_7b)");
        assert_eq!(sanitise("3d"), "_3d");
        assert_eq!(sanitise("energy[1]"), "_energy(1)");
        assert_eq!(sanitise("a b:c"), "a_b_c");
        assert_eq!(sanitise(&"y".repeat(300)).len(), MAX_NAME);
        let mut used = HashSet::new();
        let names = unique_names(
            ["a-b", "a_b", "", "a b"].iter().map(|s| s.to_string()),
            |i| format!("v{i}"),
            &mut used,
        );
        assert_eq!(names, ["a_b", "a_b_2", "v2", "a_b_3"]);
    }

    fn small() -> Model {
        let col = |name: &str, lower, upper, integer| Column {
            name: name.into(),
            lower,
            upper,
            integer,
        };
        Model {
            header: vec!["a test".into()],
            sense: Sense::Maximise,
            objective: vec![(1, 2.0), (0, 1.0)],
            constant: 3.5,
            columns: vec![
                col("x[a]", 0.0, 1.0, true),
                col("n", -2.0, 7.0, true),
                col("", f64::NEG_INFINITY, f64::INFINITY, false),
            ],
            rows: vec![
                Row {
                    name: "cap".into(),
                    terms: vec![(0, 1.0), (1, 1.0), (2, 0.0)],
                    equality: false,
                    rhs: 5.0,
                },
                Row {
                    name: "link".into(),
                    terms: vec![(0, -1.0), (2, -1.0)],
                    equality: false,
                    rhs: -1e-20,
                },
            ],
            start: vec![(0, 1.0)],
        }
    }

    #[test]
    fn lp_file_has_every_section() {
        let text = lp(&small());
        let expected = "\\ a test\n\\ sense: maximise\n\\ the objective's constant term is the \
                        coefficient of objective_constant, a column fixed at 1\n\\ a MIP start is \
                        beside this file as FILE.start.sol (`cbc FILE mipstart FILE.start.sol \
                        solve`)\nMaximize\n obj: + 1 x(a) + 2 n + 3.5 objective_constant\n\
                        Subject To\n cap: + 1 x(a) + 1 n <= 5\n link: + 1 x(a) + 1 v2 >= 1e-20\n\
                        Bounds\n -2 <= n <= 7\n v2 free\n objective_constant = 1\n\
                        Generals\n n\nBinaries\n x(a)\nEnd\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn mps_file_marks_integers_and_bounds() {
        let text = mps(&small());
        for line in [
            "OBJSENSE\n    MAX\n",
            " L  cap\n G  link\n",
            "    MARKER0 'MARKER' 'INTORG'\n    x(a) obj 1\n",
            "    MARKER1 'MARKER' 'INTEND'\n    v2 link 1\n",
            "    objective_constant obj 3.5\n",
            " BV BND x(a)\n LO BND n -2\n UP BND n 7\n FR BND v2\n",
            " FX BND objective_constant 1\nENDATA\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains(" UI ") && !text.contains(" LI "));
    }

    #[test]
    fn start_lists_the_set_columns_by_name() {
        assert_eq!(
            start(&small()),
            "MIP start written by edgeplan\n0 x(a) 1\n1 objective_constant 1\n"
        );
        assert_eq!(
            start_path(Path::new("out/m.lp")),
            PathBuf::from("out/m.start.sol")
        );
    }
}

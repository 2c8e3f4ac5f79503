//! The fuzz suite: a deterministic, structure-aware mutator of the shipped files and of the
//! command-line flags, run against the release binary.
//!
//! Each case copies `instances/` (and a small corpus of plans and sweep rows made from it) into
//! a fresh temporary directory, mutates one file or the flags of one command, runs `edgeplan`
//! there under a wall-clock limit, a 4 GiB address-space limit and a 256 MiB file-size limit,
//! and asserts what every run must satisfy:
//!
//! - the process exits with 0, 1, 2 or 3 (no signal, no panic exit 101, no abort 134, no hang
//!   past the limit, no `panicked` on standard error);
//! - exit 2 writes exactly one error line to standard error, starting `error: ` (after any
//!   `note: ` lines);
//! - no number in standard output or in a file the command wrote is `NaN`, `inf` or `-inf`;
//! - with `--json`, standard output (exit 0 or 1) parses as JSON.
//!
//! Mutations of TOML, JSON and CSV files work on the parsed document: numeric extremes (1e308,
//! 1e-300, 5e-324, -1000, 0, huge integers, `nan`, `inf`), negation and scaling, deleted and
//! duplicated keys and array entries, swapped types, strings replaced by other names of the same
//! file, path fields pointed at `/dev/zero` or a directory, CSV cell, row and column mutations;
//! and on the bytes: truncation and byte flips.
//!
//! Environment: `EDGEPLAN_FUZZ_CASES` (default [`DEFAULT_CASES`]), `EDGEPLAN_FUZZ_SEED` (default
//! 0), `EDGEPLAN_FUZZ_CASE` (run only this case, keeping its whole directory on failure),
//! `EDGEPLAN_FUZZ_TIMEOUT_S` (default 30), `EDGEPLAN_FUZZ_WORKERS` (default 2),
//! `EDGEPLAN_FUZZ_OUT` (where failing cases are written, default `<target>/fuzz-failures`).
//! See `docs/fuzzing.md`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Cases of the `.ci/run` suite (about two to three minutes on two cores).
const DEFAULT_CASES: usize = 2500;

/// Largest standard output or error kept per run, bytes (the rest is read and dropped).
const OUTPUT_CAP: usize = 8 << 20;

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_edgeplan")
}

// ---------------------------------------------------------------------------------------------
// Running the binary.

/// How one run ended.
#[derive(Debug)]
struct Outcome {
    /// Exit code (`None`: killed by a signal).
    code: Option<i32>,
    /// The signal, if any.
    signal: Option<i32>,
    /// True when the run was killed at the wall-clock limit.
    hung: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    seconds: f64,
}

fn read_capped(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = OUTPUT_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        kept
    })
}

/// The command that runs `edgeplan ARGS` in `dir` under the resource limits.
fn limited(dir: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new("sh");
    // 4 GiB of address space, 256 MiB files (512-byte blocks), no core dumps.
    cmd.arg("-c")
        .arg("ulimit -v 4194304; ulimit -f 524288; ulimit -c 0; exec \"$0\" \"$@\"")
        .arg(bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

fn wait_limited(mut child: Child, limit: Duration) -> (Option<std::process::ExitStatus>, bool) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (Some(status), false);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return (child.wait().ok(), true);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run(dir: &Path, args: &[String], limit: Duration) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    let mut child = limited(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn edgeplan");
    let out = read_capped(child.stdout.take().unwrap());
    let err = read_capped(child.stderr.take().unwrap());
    let (status, hung) = wait_limited(child, limit);
    Outcome {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        hung,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        seconds: start.elapsed().as_secs_f64(),
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.

/// The first `NaN`/`inf`/`-inf`/`infinity` token of `text`, with some context.
fn non_finite_token(text: &str) -> Option<String> {
    non_finite_token_except(text, &[])
}

/// As [`non_finite_token`], ignoring the words of `echoed`: text the command line gave (a device
/// named `infinity` is written back as a name, not as a number).
fn non_finite_token_except(text: &str, echoed: &[String]) -> Option<String> {
    let is_tok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-');
    let mut start = None;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in bytes.iter().enumerate() {
        let inside = is_tok(c);
        if inside && start.is_none() {
            start = Some(i);
        }
        let end_here = !inside || k + 1 == bytes.len();
        if let (true, Some(s)) = (end_here, start) {
            let e = if inside { i + c.len_utf8() } else { i };
            let tok = text[s..e]
                .trim_start_matches(['+', '-'])
                .to_ascii_lowercase();
            if matches!(tok.as_str(), "nan" | "inf" | "infinity") && !echoed.contains(&tok) {
                let lo = text.floor_char_boundary_compat(s.saturating_sub(60));
                let hi = text.floor_char_boundary_compat((e + 60).min(text.len()));
                return Some(text[lo..hi].replace('\n', "⏎"));
            }
            start = None;
        }
    }
    None
}

trait CharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl CharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// The file name `--solver-log` gives (as `--solver-log FILE` or `--solver-log=FILE`), if any.
fn solver_log_name(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--solver-log" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--solver-log=") {
            return Some(v.to_string());
        }
    }
    None
}

/// What is wrong with a run, as short labels (empty: nothing).
fn check(outcome: &Outcome, args: &[String], written: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut problems = Vec::new();
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    let stdout = String::from_utf8_lossy(&outcome.stdout);
    if outcome.hung {
        problems.push(format!("hang (killed after {:.0} s)", outcome.seconds));
    } else if let Some(sig) = outcome.signal {
        let what = match sig {
            6 => "SIGABRT (abort)",
            9 => "SIGKILL",
            11 => "SIGSEGV",
            13 => "SIGPIPE",
            25 => "SIGXFSZ (file over 256 MiB)",
            _ => "signal",
        };
        problems.push(format!("killed by signal {sig} {what}"));
    } else {
        match outcome.code {
            Some(0..=3) => {}
            Some(101) => problems.push("exit 101 (panic)".into()),
            Some(134) => problems.push("exit 134 (abort)".into()),
            other => problems.push(format!("exit code {other:?}")),
        }
    }
    if stderr.contains("panicked") {
        // The panic's location (without the toolchain's hash) and message.
        let mut lines = stderr.lines().skip_while(|l| !l.contains("panicked"));
        let at = lines.next().unwrap_or_default();
        let at = at.split(" panicked at ").nth(1).unwrap_or(at);
        let at = match at.split_once("/rustc/") {
            Some((_, hashed)) => hashed.split_once('/').map_or(hashed, |(_, rest)| rest),
            None => at,
        };
        let message = lines.next().unwrap_or_default();
        problems.push(format!("panic at {}: {}", at, normalise(message)));
    }
    if stderr.contains("memory allocation of") {
        problems.push("allocation failure".into());
    }
    if outcome.code == Some(2) {
        // The error is one line, the last; `note: ` lines printed before it (e.g. a sweep's
        // progress notes) are not part of it.
        let lines: Vec<&str> = stderr
            .trim_end()
            .lines()
            .filter(|l| !l.starts_with("note: "))
            .collect();
        if lines.len() != 1 {
            let first = lines.first().copied().unwrap_or_default();
            problems.push(format!(
                "exit 2 with {} lines on stderr: {}",
                lines.len(),
                normalise(first)
            ));
        } else if !lines[0].starts_with("error: ") {
            problems.push("exit 2 without `error: ` on stderr".into());
        }
    }
    // Words of the command line that read as non-finite numbers: written back as names.
    let echoed: Vec<String> = args
        .iter()
        .map(|a| a.rsplit('=').next().unwrap_or(a).to_ascii_lowercase())
        .map(|a| a.trim_start_matches(['+', '-']).to_string())
        .filter(|a| matches!(a.as_str(), "nan" | "inf" | "infinity"))
        .collect();
    if let Some(t) = non_finite_token_except(&stdout, &echoed) {
        problems.push(format!("non-finite number on stdout: {t}"));
    }
    for (name, bytes) in written {
        if let Some(t) = non_finite_token_except(&String::from_utf8_lossy(bytes), &echoed) {
            problems.push(format!("non-finite number in written file {name}: {t}"));
        }
    }
    if args.iter().any(|a| a == "--json") && matches!(outcome.code, Some(0 | 1)) {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&outcome.stdout) {
            problems.push(format!("--json output is not JSON: {e}"));
        }
    }
    problems
}

/// A message with its numbers and quoted parts blanked, for grouping failures.
fn normalise(line: &str) -> String {
    let mut out = String::new();
    let mut in_quote = false;
    for c in line.chars() {
        if c == '`' || c == '"' || c == '\'' {
            in_quote = !in_quote;
            out.push(c);
            continue;
        }
        if in_quote {
            continue;
        }
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out.chars().take(160).collect()
}

// ---------------------------------------------------------------------------------------------
// Documents.

/// A parsed TOML or JSON document.
#[derive(Clone, Debug)]
enum Node {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Arr(Vec<Node>),
    Table(Vec<(String, Node)>),
}

impl Node {
    fn from_toml(v: &toml::Value) -> Node {
        match v {
            toml::Value::Integer(i) => Node::Int(*i),
            toml::Value::Float(f) => Node::Float(*f),
            toml::Value::String(s) => Node::Str(s.clone()),
            toml::Value::Boolean(b) => Node::Bool(*b),
            toml::Value::Datetime(d) => Node::Str(d.to_string()),
            toml::Value::Array(a) => Node::Arr(a.iter().map(Node::from_toml).collect()),
            toml::Value::Table(t) => Node::Table(
                t.iter()
                    .map(|(k, v)| (k.clone(), Node::from_toml(v)))
                    .collect(),
            ),
        }
    }

    fn to_toml(&self) -> toml::Value {
        match self {
            Node::Int(i) => toml::Value::Integer(*i),
            Node::Float(f) => toml::Value::Float(*f),
            Node::Str(s) => toml::Value::String(s.clone()),
            Node::Bool(b) => toml::Value::Boolean(*b),
            Node::Arr(a) => toml::Value::Array(a.iter().map(Node::to_toml).collect()),
            Node::Table(t) => {
                let mut m = toml::map::Map::new();
                for (k, v) in t {
                    m.insert(k.clone(), v.to_toml());
                }
                toml::Value::Table(m)
            }
        }
    }

    fn from_json(v: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        match v {
            J::Null => Node::Str("null".into()),
            J::Bool(b) => Node::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => Node::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Node::Str(s.clone()),
            J::Array(a) => Node::Arr(a.iter().map(Node::from_json).collect()),
            J::Object(o) => Node::Table(
                o.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// JSON text; non-finite floats are written as `NaN`, `1e999` and `-1e999` (not JSON: a
    /// reader must refuse them).
    fn to_json(&self, out: &mut String) {
        match self {
            Node::Int(i) => write!(out, "{i}").unwrap(),
            Node::Float(f) if f.is_nan() => out.push_str("NaN"),
            Node::Float(f) if f.is_infinite() => {
                out.push_str(if *f > 0.0 { "1e999" } else { "-1e999" })
            }
            Node::Float(f) => write!(out, "{f:?}").unwrap(),
            Node::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
            Node::Bool(b) => write!(out, "{b}").unwrap(),
            Node::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.to_json(out);
                }
                out.push(']');
            }
            Node::Table(t) => {
                out.push('{');
                for (i, (k, v)) in t.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    v.to_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// A step into a node: a table entry (by position) or an array element.
type NodePath = Vec<usize>;

/// Every path of the tree below `node` (not the root itself), with the key it is under.
fn paths(node: &Node, prefix: &mut NodePath, key: &str, out: &mut Vec<(NodePath, String)>) {
    if !prefix.is_empty() {
        out.push((prefix.clone(), key.to_string()));
    }
    match node {
        Node::Arr(a) => {
            for (i, v) in a.iter().enumerate() {
                prefix.push(i);
                paths(v, prefix, key, out);
                prefix.pop();
            }
        }
        Node::Table(t) => {
            for (i, (k, v)) in t.iter().enumerate() {
                prefix.push(i);
                paths(v, prefix, k, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(node: &'a mut Node, path: &[usize]) -> &'a mut Node {
    let mut n = node;
    for &i in path {
        n = match n {
            Node::Arr(a) => &mut a[i],
            Node::Table(t) => &mut t[i].1,
            _ => unreachable!(),
        };
    }
    n
}

fn at<'a>(node: &'a Node, path: &[usize]) -> &'a Node {
    let mut n = node;
    for &i in path {
        n = match n {
            Node::Arr(a) => &a[i],
            Node::Table(t) => &t[i].1,
            _ => unreachable!(),
        };
    }
    n
}

fn strings(node: &Node, out: &mut BTreeSet<String>) {
    match node {
        Node::Str(s) => {
            out.insert(s.clone());
        }
        Node::Arr(a) => a.iter().for_each(|v| strings(v, out)),
        Node::Table(t) => t.iter().for_each(|(k, v)| {
            out.insert(k.clone());
            strings(v, out);
        }),
        _ => {}
    }
}

const EXTREME_FLOATS: &[f64] = &[
    1e308,
    -1e308,
    f64::MAX,
    1e-300,
    5e-324,
    -5e-324,
    -1000.0,
    0.0,
    -0.0,
    -1.0,
    1e20,
    1e-20,
    9.223372036854776e18,
    4294967296.0,
    2147483648.0,
    0.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

const EXTREME_INTS: &[i64] = &[
    i64::MAX,
    i64::MIN,
    4294967296,
    4294967295,
    2147483648,
    2147483647,
    65536,
    1_000_000_000,
    1 << 40,
    -1,
    0,
    -1000,
    1,
];

const EXTREME_TEXT: &[&str] = &[
    "1e308",
    "-1e308",
    "1e-300",
    "5e-324",
    "-1000",
    "0",
    "-0",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "4294967296",
    "2147483648",
    "1e20",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "infinity",
    "1e999",
    "0x10",
    "",
    "1.5",
];

/// Keys whose value is a path in instance and sweep files.
const PATH_KEYS: &[&str] = &[
    "models_dir",
    "devices",
    "profiles_dir",
    "model",
    "carbon",
    "price",
    "renewable",
    "base",
];

/// What a path field is pointed at.
const BAD_PATHS: &[&str] = &[
    "/dev/zero",
    "/dev/urandom",
    "/dev/null",
    "/dev/full",
    "/",
    ".",
    "instances",
    "instances/models",
    "/proc/self/status",
    "missing/x.toml", // relative: a case runs in its own temporary directory
];

fn extreme_node(rng: &mut ChaCha8Rng, was_int: bool) -> Node {
    if was_int && rng.gen_bool(0.6) {
        Node::Int(*EXTREME_INTS.choose(rng).unwrap())
    } else {
        Node::Float(*EXTREME_FLOATS.choose(rng).unwrap())
    }
}

/// Applies one structured mutation to `doc`; returns its description (`None`: not applicable).
fn mutate_node(doc: &mut Node, rng: &mut ChaCha8Rng) -> Option<String> {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), "", &mut all);
    if all.is_empty() {
        return None;
    }
    let numeric: Vec<&(NodePath, String)> = all
        .iter()
        .filter(|(p, _)| matches!(at(doc, p), Node::Int(_) | Node::Float(_)))
        .collect();
    let leaves: Vec<&(NodePath, String)> = all
        .iter()
        .filter(|(p, _)| !matches!(at(doc, p), Node::Arr(_) | Node::Table(_)))
        .collect();
    let class = rng.gen_range(0..12);
    match class {
        // Numeric extremes (most weight).
        0..=2 => {
            let (p, k) = (*numeric.choose(rng)?).clone();
            let n = at_mut(doc, &p);
            let was_int = matches!(n, Node::Int(_));
            *n = extreme_node(rng, was_int);
            Some(format!("numeric extreme: {k} = {:?}", n))
        }
        3 => {
            let (p, k) = (*numeric.choose(rng)?).clone();
            let n = at_mut(doc, &p);
            *n = match n {
                Node::Int(0) => Node::Int(-1),
                Node::Int(i) => Node::Int(i.saturating_neg()),
                Node::Float(f) if *f == 0.0 => Node::Float(-1.0),
                Node::Float(f) => Node::Float(-*f),
                _ => unreachable!(),
            };
            Some(format!("negate: {k} = {n:?}"))
        }
        4 => {
            let (p, k) = (*numeric.choose(rng)?).clone();
            let factor: f64 = *[1e6, 1e-6, 1e300, 1e-300, 1000.0].choose(rng).unwrap();
            let n = at_mut(doc, &p);
            *n = match n {
                Node::Int(i) => {
                    if factor >= 1.0 {
                        Node::Int(i.saturating_mul(factor.min(1e15) as i64))
                    } else {
                        Node::Float(*i as f64 * factor)
                    }
                }
                Node::Float(f) => Node::Float(*f * factor),
                _ => unreachable!(),
            };
            Some(format!("scale x{factor:e}: {k} = {n:?}"))
        }
        // Delete a key or an array entry.
        5 => {
            let (p, k) = all.choose(rng)?.clone();
            let (last, parent) = p.split_last().unwrap();
            match at_mut(doc, parent) {
                Node::Arr(a) => {
                    a.remove(*last);
                    Some(format!("delete entry {last} of array `{k}`"))
                }
                Node::Table(t) => {
                    t.remove(*last);
                    Some(format!("delete key `{k}`"))
                }
                _ => None,
            }
        }
        // Duplicate an array entry (sometimes many times) or a key.
        6 => {
            let (p, k) = all.choose(rng)?.clone();
            let (last, parent) = p.split_last().unwrap();
            let copies = *[1usize, 1, 2, 50].choose(rng).unwrap();
            match at_mut(doc, parent) {
                Node::Arr(a) => {
                    let v = a[*last].clone();
                    for _ in 0..copies {
                        a.insert(*last, v.clone());
                    }
                    Some(format!("duplicate entry {last} of array `{k}` x{copies}"))
                }
                Node::Table(t) => {
                    // A duplicated key under another name of the same table.
                    let (key, v) = t[*last].clone();
                    let new = format!("{key}_copy");
                    t.push((new.clone(), v));
                    Some(format!("copy key `{key}` as `{new}`"))
                }
                _ => None,
            }
        }
        // Swap the type of a leaf.
        7 => {
            let (p, k) = (*leaves.choose(rng)?).clone();
            let n = at_mut(doc, &p);
            let old = n.clone();
            *n = match (rng.gen_range(0..8), &old) {
                (0, Node::Int(i)) => Node::Float(*i as f64 + 0.5),
                (0, Node::Float(f)) => Node::Int(*f as i64),
                (0 | 1, _) => Node::Str("x".into()),
                (2, Node::Str(s)) => Node::Arr(vec![Node::Str(s.clone())]),
                (2, _) => Node::Bool(true),
                (3, _) => Node::Int(1),
                (4, _) => Node::Float(1.5),
                (5, _) => Node::Arr(vec![]),
                (6, _) => Node::Table(vec![]),
                _ => Node::Bool(false),
            };
            Some(format!("swap type: {k} = {n:?} (was {old:?})"))
        }
        // Replace a string by another of the same file.
        8 => {
            let strs: Vec<&(NodePath, String)> = leaves
                .iter()
                .copied()
                .filter(|(p, _)| matches!(at(doc, p), Node::Str(_)))
                .collect();
            let (p, k) = (*strs.choose(rng)?).clone();
            let mut pool = BTreeSet::new();
            strings(doc, &mut pool);
            let pool: Vec<String> = pool.into_iter().collect();
            let s = pool.choose(rng)?.clone();
            *at_mut(doc, &p) = Node::Str(s.clone());
            Some(format!("replace string: {k} = {s:?}"))
        }
        // Path fields.
        9 => {
            let bad = BAD_PATHS.choose(rng).unwrap().to_string();
            let pathish: Vec<&(NodePath, String)> = leaves
                .iter()
                .copied()
                .filter(|(p, k)| {
                    matches!(at(doc, p), Node::Str(s)
                        if PATH_KEYS.contains(&k.as_str()) || s.contains('/')
                            || s.ends_with(".csv") || s.ends_with(".toml"))
                })
                .collect();
            if let (Some((p, k)), true) = (pathish.choose(rng), rng.gen_bool(0.6)) {
                *at_mut(doc, p) = Node::Str(bad.clone());
                Some(format!("path field: {k} = {bad:?}"))
            } else if let Node::Table(t) = doc {
                let key = *["models_dir", "devices", "profiles_dir"]
                    .choose(rng)
                    .unwrap();
                t.retain(|(k, _)| k != key);
                t.insert(0, (key.to_string(), Node::Str(bad.clone())));
                Some(format!("path field: {key} = {bad:?} (set)"))
            } else {
                None
            }
        }
        // Non-finite numbers anywhere numeric.
        10 => {
            let (p, k) = (*numeric.choose(rng)?).clone();
            let v = *[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]
                .choose(rng)
                .unwrap();
            *at_mut(doc, &p) = Node::Float(v);
            Some(format!("non-finite: {k} = {v}"))
        }
        // An extreme in place of any leaf (a string or a bool too).
        _ => {
            let (p, k) = (*leaves.choose(rng)?).clone();
            let n = at_mut(doc, &p);
            *n = extreme_node(rng, true);
            Some(format!("leaf to extreme: {k} = {n:?}"))
        }
    }
}

/// A CSV file: its leading comment lines and its rows.
fn mutate_csv(text: &str, rng: &mut ChaCha8Rng) -> Option<(String, String)> {
    let comments: String = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let body = &text[comments.len().min(text.len())..];
    let mut rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes())
        .records()
        .filter_map(|r| r.ok())
        .map(|r| r.iter().map(str::to_string).collect())
        .collect();
    if rows.len() < 2 {
        return None;
    }
    let r = rng.gen_range(1..rows.len());
    let width = rows[r].len().max(1);
    let c = rng.gen_range(0..width);
    let header = rows[0].get(c).cloned().unwrap_or_default();
    let what = match rng.gen_range(0..9) {
        0..=2 => {
            let numeric = rows[r].get(c).is_some_and(|v| v.parse::<f64>().is_ok());
            // A text cell (a name, a status) may be echoed into the output: it gets no `nan`
            // or `inf` spelling.
            let v = if numeric {
                EXTREME_TEXT.choose(rng).unwrap().to_string()
            } else {
                ["x", "", "1e308", "-1"].choose(rng).unwrap().to_string()
            };
            if c < rows[r].len() {
                rows[r][c] = v.clone();
            }
            format!("cell extreme: row {r} column `{header}` = {v:?}")
        }
        3 => {
            if let Some(v) = rows[r].get_mut(c) {
                *v = match v.strip_prefix('-') {
                    Some(rest) => rest.to_string(),
                    None => format!("-{v}"),
                };
            }
            format!("cell negate: row {r} column `{header}`")
        }
        4 => {
            let other = rng.gen_range(0..rows.len());
            let v = rows[other].get(c).cloned().unwrap_or_default();
            if c < rows[r].len() {
                rows[r][c] = v.clone();
            }
            format!("cell copy: row {r} column `{header}` = {v:?}")
        }
        5 => {
            let copies = *[1usize, 3, 500].choose(rng).unwrap();
            let row = rows[r].clone();
            for _ in 0..copies {
                rows.insert(r, row.clone());
            }
            format!("duplicate row {r} x{copies}")
        }
        6 => {
            let r = rng.gen_range(0..rows.len());
            rows.remove(r);
            format!("delete row {r}")
        }
        7 => {
            for row in rows.iter_mut() {
                if c < row.len() {
                    row.remove(c);
                }
            }
            format!("delete column `{header}`")
        }
        _ => {
            rows[r].push("1e308".into());
            format!("extra cell in row {r}")
        }
    };
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(vec![]);
    for row in &rows {
        w.write_record(row).ok()?;
    }
    let out = String::from_utf8(w.into_inner().ok()?).ok()?;
    Some((format!("{comments}{out}"), what))
}

/// Byte-level mutations: truncation, byte flips, a number token replaced by an extreme.
fn mutate_bytes(bytes: &[u8], rng: &mut ChaCha8Rng) -> (Vec<u8>, String) {
    let mut b = bytes.to_vec();
    if b.is_empty() {
        return (b"\x00".to_vec(), "empty file to NUL".into());
    }
    match rng.gen_range(0..3) {
        0 => {
            let at = rng.gen_range(0..b.len());
            b.truncate(at);
            (b, format!("truncate at byte {at}"))
        }
        1 => {
            let n = rng.gen_range(1..=4);
            let mut at = Vec::new();
            for _ in 0..n {
                let i = rng.gen_range(0..b.len());
                b[i] ^= 1 << rng.gen_range(0..8);
                at.push(i);
            }
            (b, format!("flip bits at bytes {at:?}"))
        }
        _ => {
            // Replace the digits of a number (in text) by an extreme.
            let text = String::from_utf8_lossy(&b).into_owned();
            let starts: Vec<usize> = text
                .char_indices()
                .filter(|&(i, c)| {
                    c.is_ascii_digit()
                        && (i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric())
                })
                .map(|(i, _)| i)
                .collect();
            let Some(&s) = starts.choose(rng) else {
                return (b, "no number".into());
            };
            let e = text[s..]
                .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
                .map_or(text.len(), |k| s + k);
            let v = EXTREME_TEXT[..20].choose(rng).unwrap();
            let out = format!("{}{}{}", &text[..s], v, &text[e..]);
            let desc = format!("number `{}` at byte {s} -> {v}", &text[s..e]);
            (out.into_bytes(), desc)
        }
    }
}

/// Mutates the file `rel` (relative to the case directory) in place; returns the description.
fn mutate_file(dir: &Path, rel: &str, rng: &mut ChaCha8Rng) -> String {
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let structured = rng.gen_bool(0.85);
    let mut desc = None;
    if structured {
        let rounds = *[1, 1, 1, 2, 3].choose(rng).unwrap();
        if rel.ends_with(".toml") {
            if let Ok(v) = text.parse::<toml::Table>() {
                let mut doc = Node::from_toml(&toml::Value::Table(v));
                let mut what = Vec::new();
                for _ in 0..rounds {
                    if let Some(d) = mutate_node(&mut doc, rng) {
                        what.push(d);
                    }
                }
                if let Ok(s) = toml::to_string(&doc.to_toml()) {
                    std::fs::write(&path, s).unwrap();
                    desc = Some(what.join("; "));
                }
            }
        } else if rel.ends_with(".json") {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                let mut doc = Node::from_json(&v);
                let mut what = Vec::new();
                for _ in 0..rounds {
                    if let Some(d) = mutate_node(&mut doc, rng) {
                        what.push(d);
                    }
                }
                let mut s = String::new();
                doc.to_json(&mut s);
                std::fs::write(&path, s).unwrap();
                desc = Some(what.join("; "));
            }
        } else if rel.ends_with(".csv") {
            let mut t = text.clone();
            let mut what = Vec::new();
            for _ in 0..rounds {
                if let Some((s, d)) = mutate_csv(&t, rng) {
                    t = s;
                    what.push(d);
                }
            }
            std::fs::write(&path, t).unwrap();
            desc = Some(what.join("; "));
        }
    }
    match desc {
        Some(d) if !d.is_empty() => format!("{rel}: {d}"),
        _ => {
            let (b, d) = mutate_bytes(&bytes, rng);
            std::fs::write(&path, b).unwrap();
            format!("{rel}: bytes: {d}")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands.

/// Small shipped instances the file mutations start from (the largest ones are left out to keep
/// cases short: they have the same structure).
const INSTANCES: &[(&str, &str)] = &[
    ("split", "gpt2-jetson-full-finetune"),
    ("split", "llama2-13b-phone-infeasible"),
    ("split", "llama2-7b-jetson"),
    ("split", "llama2-7b-phone-memory-bound"),
    ("split", "llama3.2-1b-phone-energy"),
    ("split", "qwen2.5-0.5b-rpi5-lora"),
    ("split", "replay-gpt2-local"),
    ("split", "replay-qwen2.5-0.5b-local"),
    ("split", "tinyllama-laptop-weighted"),
    ("alloc", "alloc-5-users"),
    ("alloc", "alloc-10-users"),
    ("alloc", "alloc-20-users-2-servers"),
    ("cache", "cache-small"),
    ("cache", "cache-4s-20m-50u"),
    ("cache", "cache-relay-4s-20m-50u"),
    ("green", "green-10j-2s-24t"),
    ("green", "green-day"),
    ("pipeline", "chain-llama2-7b-jetson"),
    ("pipeline", "home-llama3.2-3b-phone"),
    ("pipeline", "home-llama2-13b-infeasible"),
    ("pipeline", "lab-qwen2.5-0.5b-lora"),
    ("pipeline", "summarise-llama2-7b-fastest"),
    ("pipeline", "campus-8n-llama2-7b-throughput"),
    ("moe", "mixtral-campus-8n-throughput"),
    ("moe", "mixtral-fp16-infeasible"),
    ("moe", "mixtral-jetson-cache-energy"),
    ("moe", "mixtral-jetson-cache-trace"),
    ("collab", "collab-8-users"),
    ("collab", "collab-12-users-split"),
    ("collab", "collab-infeasible"),
];

/// Fast presets per problem (the exact `highs` runs under `--time-limit 1`).
fn solvers(problem: &str) -> &'static [&'static str] {
    match problem {
        "split" => &["highs", "enumerate", "all-device", "all-edge", "all-cloud"],
        "alloc" => &[
            "highs",
            "local-search",
            "equal-split",
            "all-edge",
            "fixed-cut",
        ],
        "cache" => &["highs", "greedy", "independent", "popularity", "random"],
        "pipeline" => &["highs", "enumerate", "local-search", "edgeshard"],
        "moe" => &["highs", "enumerate", "greedy", "round-robin", "layer-wise"],
        "collab" => &[
            "highs",
            "enumerate",
            "greedy",
            "all-device",
            "all-edge",
            "cascade-fixed",
        ],
        _ => &["highs", "greedy", "asap"],
    }
}

/// The preset the corpus plans are made with.
fn plan_solver(problem: &str) -> &'static str {
    match problem {
        "split" => "enumerate",
        "alloc" => "local-search",
        "cache" => "greedy",
        "pipeline" => "local-search",
        _ => "greedy",
    }
}

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// A short `profile` of GPT-2's `layers` on this CPU, written to `out`.
fn profile_cmd(layers: &str, out: &str) -> Vec<String> {
    s(&[
        "profile",
        "--model",
        "gpt2",
        "--device",
        "epyc-zen4-2vcpu",
        "--threads",
        "1",
        "--prompt",
        "8",
        "--decode",
        "2",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--layers",
        layers,
        "-o",
        out,
        "-q",
    ])
}

fn solve_cmd(problem: &str, instance: &str, rng: &mut ChaCha8Rng) -> Vec<String> {
    let mut a = s(&["solve", instance, "--time-limit", "1", "--threads", "1"]);
    a.extend(s(&["--solver", solvers(problem).choose(rng).unwrap()]));
    if rng.gen_bool(0.5) {
        a.push("--json".into());
    }
    a
}

fn evaluate_cmd(problem: &str, name: &str, rng: &mut ChaCha8Rng) -> Vec<String> {
    let mut a = s(&[
        "evaluate",
        &format!("instances/{problem}/{name}.toml"),
        &format!("corpus/{name}.json"),
    ]);
    if rng.gen_bool(0.5) {
        a.push("--json".into());
    }
    a
}

/// A valid command of each kind, before flag mutation.
fn base_command(kind: usize, rng: &mut ChaCha8Rng) -> Vec<String> {
    let &(problem, name) = INSTANCES.choose(rng).unwrap();
    let instance = format!("instances/{problem}/{name}.toml");
    let models = [
        "gpt2",
        "qwen2.5-0.5b",
        "tinyllama-1.1b",
        "llama-2-7b",
        "phi-3-mini",
    ];
    match kind {
        0 => {
            let mut a = solve_cmd(problem, &instance, rng);
            if rng.gen_bool(0.3) {
                a.extend(s(&["--gap", "0.01"]));
            }
            if rng.gen_bool(0.2) {
                a.extend(s(&["--solver-log", "solver.log"]));
            }
            if rng.gen_bool(0.2) {
                a.extend(s(&["--write-model", "model.lp"]));
            }
            a
        }
        1 => evaluate_cmd(problem, name, rng),
        2 => {
            let mut a = s(&["costs", models.choose(rng).unwrap(), "--dtype"]);
            a.push(
                ["fp32", "fp16", "int8", "q4"]
                    .choose(rng)
                    .unwrap()
                    .to_string(),
            );
            if rng.gen_bool(0.5) {
                a.extend(s(&["-o", "costs.csv"]));
            }
            a
        }
        3 => s(&["costs", "--validate"]),
        4 => s(&[
            "generate",
            "alloc",
            "--users",
            "4",
            "--servers",
            "2",
            "--seed",
            "1",
            "--blocks",
            "20",
            "--rb-bandwidth",
            "180000",
            "--radius",
            "300",
            "--spacing",
            "800",
            "--rtt",
            "0.01",
            "--finetune-fraction",
            "0.3",
            "--deadline-factor",
            "2",
            "-o",
            "gen.toml",
        ]),
        5 => s(&[
            "generate",
            "cache",
            "--servers",
            "2",
            "--models",
            "5",
            "--users",
            "8",
            "--seed",
            "1",
            "--lora-fraction",
            "0.5",
            "--top-layers-fraction",
            "0.2",
            "--storage",
            "2e9",
            "--spacing",
            "400",
            "--coverage",
            "500",
            "--bandwidth",
            "2e7",
            "--backhaul",
            "1e9",
            "--latency-limit",
            "1,5",
            "--zipf",
            "0.8",
            "-o",
            "gen.toml",
        ]),
        6 if rng.gen_bool(0.4) => s(&[
            "generate",
            "pipeline",
            "--nodes",
            "6",
            "--seed",
            "2",
            "--topology",
            ["geometric", "tree"].choose(rng).unwrap(),
            "--model",
            "gpt2",
            "--objective",
            ["latency", "throughput", "energy", "weighted"]
                .choose(rng)
                .unwrap(),
            "--routing",
            "fastest",
            "-o",
            "gen.toml",
        ]),
        6 if rng.gen_bool(0.3) => s(&[
            "generate",
            "moe",
            "--task",
            ["placement", "cache"].choose(rng).unwrap(),
            "--nodes",
            "4",
            "--seed",
            "3",
            "--model",
            ["mixtral-8x7b", "olmoe-1b-7b", "qwen1.5-moe-a2.7b"]
                .choose(rng)
                .unwrap(),
            "--skew",
            "1.5",
            "--trace-tokens",
            "64",
            "-o",
            "gen.toml",
        ]),
        6 if rng.gen_bool(0.3) => s(&[
            "generate",
            "collab",
            "--users",
            "5",
            "--seed",
            "4",
            "--modes",
            [
                "device,edge,cascade,speculative",
                "edge,split",
                "speculative",
            ]
            .choose(rng)
            .unwrap(),
            "--max-draft-length",
            "4",
            "--objective",
            ["quality", "served"].choose(rng).unwrap(),
            "-o",
            "gen.toml",
        ]),
        6 => s(&[
            "generate",
            "green",
            "--jobs",
            "4",
            "--servers",
            "2",
            "--slots",
            "12",
            "--slot-s",
            "3600",
            "--seed",
            "1",
            "--load",
            "0.3",
            "--deadline-slack",
            "1",
            "--objective",
            "energy",
            "-o",
            "gen.toml",
        ]),
        7 => {
            let sweep = [
                "green-slack",
                "alloc-users",
                "cache-storage",
                "split-random",
                "pipeline-nodes",
                "moe-skew",
            ]
            .choose(rng)
            .unwrap();
            let mut a = s(&[
                "sweep",
                &format!("instances/sweeps/{sweep}.toml"),
                "-o",
                "runs.csv",
                "-j",
                "1",
                "-q",
                "--max-runs",
                "2",
            ]);
            if rng.gen_bool(0.2) {
                a.push("--dry-run".into());
            }
            a
        }
        8 => {
            let mut a = s(&[
                "summarize",
                "corpus/runs.csv",
                "--by",
                "solver,deadline_slack",
                "--metric",
                "objective",
                "--level",
                "0.95",
            ]);
            match rng.gen_range(0..3) {
                0 => a.push("--json".into()),
                1 => a.extend(s(&["-o", "summary.csv", "--merged", "merged.csv"])),
                _ => a.extend(s(&["--where", "solver=greedy"])),
            }
            a
        }
        9 => profile_cmd("0,1", "profile.csv"),
        10 => {
            let model = ["gpt2", "qwen2.5-0.5b", "tinyllama-1.1b"]
                .choose(rng)
                .unwrap();
            let mut a = s(&["calibrate", "--model", model, "--device", "epyc-zen4-2vcpu"]);
            if rng.gen_bool(0.5) {
                a.push("--json".into());
            }
            a
        }
        _ => {
            let mut a = s(&[
                "replay",
                "instances/split/replay-gpt2-local.toml",
                "corpus/replay-gpt2-local.json",
                "--threads",
                "1",
                "--seed",
                "1",
            ]);
            if rng.gen_bool(0.5) {
                a.push("--json".into());
            }
            a
        }
    }
}

/// Numeric flags (and those with structured values) of the subcommands, with mutated values.
fn flag_value(flag: &str, rng: &mut ChaCha8Rng) -> String {
    let special: &[&str] = match flag {
        "--shard" => &[
            "0/0",
            "5/2",
            "-1/3",
            "1/18446744073709551615",
            "0/4294967296",
            "a/b",
        ],
        "--latency-limit" => &["nan,1", "5,1", "-1,0", "0,0", "1e308,1e308", "1", "1,2,3"],
        "--where" => &["solver=", "=x", "nosuchcolumn=1", "objective=nan", "x"],
        "--by" | "--metric" => &["", ",", "nosuchcolumn", "objective,objective", "seed"],
        "--solver" => &[
            "nosuch",
            "",
            "/dev/zero",
            "instances",
            "solvers/../Cargo.toml",
        ],
        "--dtype" => &["fp8", "", "FP16", "q4,q4"],
        "--objective" => &["", "max", "carbon", "latency"],
        "--models" | "--devices" | "--model" | "--bases" | "--device" => &[
            "",
            ",",
            "nosuch",
            "gpt2,gpt2",
            "gpt2@fp8",
            "/dev/zero",
            "..",
            "a,,b",
        ],
        "--layers" => &["", "0,0", "4294967296", "-1", "1000000"],
        // A name is echoed into the output: no `nan` or `inf` spelled here.
        "--name" => {
            return ["", "a\"b", "a/b", "x\ny", &"n".repeat(300)]
                .choose(rng)
                .unwrap()
                .to_string()
        }
        "-o" | "--out" | "--output" | "--merged" | "--solver-log" | "--write-model"
        | "--profile" | "--instances" | "--models-dir" | "--measurements" => &[
            "/dev/zero",
            "/dev/full",
            "/",
            ".",
            "missing/dir/x", // relative: sweep -o creates folders, inside the case's directory
            "x.mps",
            "x.txt",
        ],
        _ => &[],
    };
    if !special.is_empty() && rng.gen_bool(0.6) {
        return special.choose(rng).unwrap().to_string();
    }
    match rng.gen_range(0..5) {
        0 => "1000".into(),
        1 => "-5".into(),
        _ => EXTREME_TEXT.choose(rng).unwrap().to_string(),
    }
}

/// Flags each subcommand takes (to add one that was not there).
fn extra_flags(sub: &str) -> &'static [&'static str] {
    match sub {
        "solve" => &["--time-limit", "--gap", "--threads", "--solver"],
        "costs" => &["--dtype", "--models-dir", "--devices", "--measurements"],
        "sweep" => &["--threads", "--max-runs", "--shard"],
        "summarize" => &["--level", "--by", "--metric", "--where"],
        "profile" => &[
            "--threads",
            "--prompt",
            "--decode",
            "--reps",
            "--warmup",
            "--layers",
        ],
        "calibrate" => &["--dtype", "--profile"],
        "replay" => &["--threads", "--seed"],
        "generate" => &["--seed", "--name", "--instances"],
        _ => &[],
    }
}

fn is_flag(a: &str) -> bool {
    a.starts_with('-') && a.len() > 1 && !a.starts_with("-0") && a.parse::<f64>().is_err()
}

/// Mutates the flags of `args` once or twice; returns the description.
fn mutate_flags(args: &mut Vec<String>, rng: &mut ChaCha8Rng) -> String {
    let mut what = Vec::new();
    for _ in 0..rng.gen_range(1..=2) {
        // Flags followed by a value.
        let valued: Vec<usize> = (0..args.len().saturating_sub(1))
            .filter(|&i| is_flag(&args[i]) && !is_flag(&args[i + 1]))
            .collect();
        match rng.gen_range(0..6) {
            0..=3 if !valued.is_empty() => {
                let i = *valued.choose(rng).unwrap();
                let v = flag_value(&args[i], rng);
                // A value starting with `-` mostly as `--flag=-5`, which the parser takes as a
                // value (so that the range checks behind it are reached).
                if v.starts_with('-') && args[i].starts_with("--") && rng.gen_bool(0.7) {
                    what.push(format!("{}={v}", args[i]));
                    args[i] = format!("{}={v}", args[i]);
                    args.remove(i + 1);
                } else {
                    what.push(format!("{} {:?}", args[i], v));
                    args[i + 1] = v;
                }
            }
            4 => {
                let flags = extra_flags(&args[0]);
                if let Some(f) = flags.choose(rng) {
                    let v = flag_value(f, rng);
                    what.push(format!("add {f}={v}"));
                    args.push(format!("{f}={v}"));
                }
            }
            _ => {
                if let Some(&i) = valued.choose(rng) {
                    what.push(format!("drop {}", args[i]));
                    args.drain(i..i + 2);
                }
            }
        }
    }
    format!("flags: {}", what.join("; "))
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// One generated case.
struct Case {
    index: usize,
    /// The files mutated (relative to the case directory).
    files: Vec<String>,
    mutation: String,
    args: Vec<String>,
}

fn relpath(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap().display().to_string()
}

fn list(dir: &Path, sub: &str, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| relpath(&p, dir))
        .collect();
    v.sort();
    v
}

/// Builds case `index` in `dir` (a copy of the template): mutates its files and returns the
/// command.
fn make_case(index: usize, seed: u64, dir: &Path) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    let mut files = Vec::new();
    let target = rng.gen_range(0..100);
    let (mutation, mut args) = match target {
        // Instances: solve or evaluate.
        0..=34 => {
            let &(problem, name) = INSTANCES.choose(&mut rng).unwrap();
            let rel = format!("instances/{problem}/{name}.toml");
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel.clone());
            let args = if rng.gen_bool(0.7) {
                solve_cmd(problem, &rel, &mut rng)
            } else {
                evaluate_cmd(problem, name, &mut rng)
            };
            (m, args)
        }
        // Model configs.
        35..=42 => {
            let models = list(dir, "instances/models", "toml");
            let rel = models.choose(&mut rng).unwrap().clone();
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel.clone());
            let name = Path::new(&rel)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let users: Vec<&(&str, &str)> = INSTANCES
                .iter()
                .filter(|(p, n)| {
                    *p == "split"
                        && std::fs::read_to_string(dir.join(format!("instances/{p}/{n}.toml")))
                            .unwrap()
                            .contains(&format!("model = \"{name}\""))
                })
                .collect();
            let args = match (rng.gen_range(0..4), users.choose(&mut rng)) {
                (0, Some((p, n))) => solve_cmd(p, &format!("instances/{p}/{n}.toml"), &mut rng),
                (1, _) => s(&["generate", "alloc", "--users", "3", "--models", &name]),
                (2, _) => s(&["generate", "green", "--jobs", "3", "--models", &name]),
                _ => {
                    let dtype = ["fp32", "fp16", "int8", "q4"].choose(&mut rng).unwrap();
                    s(&["costs", &name, "--dtype", dtype])
                }
            };
            (m, args)
        }
        // The device catalog.
        43..=50 => {
            let rel = "instances/devices.csv".to_string();
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel);
            let args = match rng.gen_range(0..5) {
                0 => s(&["costs", "--validate"]),
                1 => base_command(4, &mut rng),
                2 => base_command(6, &mut rng),
                _ => {
                    let &(problem, name) = INSTANCES.choose(&mut rng).unwrap();
                    solve_cmd(
                        problem,
                        &format!("instances/{problem}/{name}.toml"),
                        &mut rng,
                    )
                }
            };
            (m, args)
        }
        // Measurements.
        51..=54 => {
            let rel = "instances/measurements.csv".to_string();
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel);
            (m, s(&["costs", "--validate"]))
        }
        // Profiled tables.
        55..=59 => {
            let profiles = list(dir, "instances/profiles", "csv");
            let rel = profiles.choose(&mut rng).unwrap().clone();
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel.clone());
            let model = rel
                .trim_start_matches("instances/profiles/")
                .split('@')
                .next()
                .unwrap()
                .to_string();
            let args = if rng.gen_bool(0.5) {
                let mut a = s(&[
                    "calibrate",
                    "--model",
                    &model,
                    "--device",
                    "epyc-zen4-2vcpu",
                ]);
                if rng.gen_bool(0.5) {
                    a.push("--json".into());
                }
                a
            } else {
                let inst = format!("instances/split/replay-{model}-local.toml");
                solve_cmd("split", &inst, &mut rng)
            };
            (m, args)
        }
        // Traces (green-day reads them).
        60..=62 => {
            let traces = list(dir, "instances/traces", "csv");
            let rel = traces.choose(&mut rng).unwrap().clone();
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel);
            (
                m,
                solve_cmd("green", "instances/green/green-day.toml", &mut rng),
            )
        }
        // Sweeps.
        63..=70 => {
            let sweeps = list(dir, "instances/sweeps", "toml");
            let rel = sweeps.choose(&mut rng).unwrap().clone();
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel.clone());
            let mut a = s(&[
                "sweep",
                &rel,
                "-o",
                "runs.csv",
                "-j",
                "1",
                "-q",
                "--max-runs",
                "2",
            ]);
            if rng.gen_bool(0.3) {
                a.push("--dry-run".into());
            }
            (m, a)
        }
        // Plans.
        71..=80 => {
            let &(problem, name) = INSTANCES.choose(&mut rng).unwrap();
            let rel = format!("corpus/{name}.json");
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel);
            let args = if name == "replay-gpt2-local" && rng.gen_bool(0.3) {
                base_command(11, &mut rng)
            } else {
                evaluate_cmd(problem, name, &mut rng)
            };
            (m, args)
        }
        // Sweep rows for summarize.
        81..=84 => {
            let rel = "corpus/runs.csv".to_string();
            let m = mutate_file(dir, &rel, &mut rng);
            files.push(rel);
            (m, base_command(8, &mut rng))
        }
        // Flags only.
        _ => {
            // Replay and profile run a real transformer: rarer.
            let kind = if rng.gen_bool(0.1) {
                rng.gen_range(9..12)
            } else {
                rng.gen_range(0..9)
            };
            let mut a = base_command(kind, &mut rng);
            let m = mutate_flags(&mut a, &mut rng);
            (m, a)
        }
    };
    let mutation = if target < 85 && rng.gen_bool(0.1) {
        format!("{mutation}; {}", mutate_flags(&mut args, &mut rng))
    } else {
        mutation
    };
    Case {
        index,
        files,
        mutation,
        args,
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// Files of the case directory's top level (what commands write), with their contents.
fn top_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            let mut bytes = Vec::new();
            if let Ok(f) = std::fs::File::open(e.path()) {
                let _ = f.take(OUTPUT_CAP as u64).read_to_end(&mut bytes);
            }
            out.insert(e.file_name().to_string_lossy().into_owned(), bytes);
        }
    }
    out
}

/// The template every case copies: `instances/`, `solvers/` and `corpus/` (plans of the small
/// instances, rows of a green sweep).
fn template() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    copy_tree(&common::instances(), &dir.join("instances"));
    if common::root().join("solvers").is_dir() {
        copy_tree(&common::root().join("solvers"), &dir.join("solvers"));
    }
    std::fs::create_dir_all(dir.join("corpus")).unwrap();
    let limit = Duration::from_secs(120);
    for &(problem, name) in INSTANCES {
        let args = s(&[
            "solve",
            &format!("instances/{problem}/{name}.toml"),
            "--solver",
            plan_solver(problem),
            "--json",
        ]);
        let out = run(dir, &args, limit);
        let plan = if serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok() {
            out.stdout
        } else {
            // An infeasible instance: a plan by hand.
            br#"{"cuts": [0, 0]}"#.to_vec()
        };
        std::fs::write(dir.join(format!("corpus/{name}.json")), plan).unwrap();
    }
    let args = s(&[
        "sweep",
        "instances/sweeps/green-slack.toml",
        "-o",
        "corpus/runs.csv",
        "-j",
        "1",
        "-q",
        "--max-runs",
        "8",
    ]);
    let out = run(dir, &args, limit);
    assert_eq!(
        out.code,
        Some(0),
        "corpus sweep: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t
}

/// A failing case, as reported.
struct Failure {
    index: usize,
    problems: Vec<String>,
    mutation: String,
    args: Vec<String>,
    saved: PathBuf,
}

fn failures_dir() -> PathBuf {
    match std::env::var_os("EDGEPLAN_FUZZ_OUT") {
        Some(d) => PathBuf::from(d),
        None => Path::new(bin())
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("target"))
            .join("fuzz-failures"),
    }
}

fn quote(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./@,=:".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes what reproduces the failing case `case` (its mutated files, the command, the output)
/// under the failures folder; `keep_all` copies the whole case directory.
fn save_failure(
    case: &Case,
    dir: &Path,
    seed: u64,
    outcome: &Outcome,
    problems: &[String],
    keep_all: bool,
) -> PathBuf {
    let out = failures_dir().join(format!("seed-{seed}-case-{}", case.index));
    let _ = std::fs::remove_dir_all(&out);
    if keep_all {
        copy_tree(dir, &out);
    } else {
        for f in &case.files {
            let to = out.join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(dir.join(f), to).unwrap();
        }
        std::fs::create_dir_all(&out).unwrap();
    }
    let mut text = String::new();
    writeln!(text, "case {} of seed {seed}", case.index).unwrap();
    writeln!(text, "mutation: {}", case.mutation).unwrap();
    writeln!(
        text,
        "command (in a copy of the repository root with the files here copied over): edgeplan {}",
        quote(&case.args)
    )
    .unwrap();
    writeln!(text, "rerun: EDGEPLAN_FUZZ_SEED={seed} EDGEPLAN_FUZZ_CASE={} cargo test --release --test fuzz fuzz_cases -- --nocapture", case.index).unwrap();
    writeln!(text, "problems:").unwrap();
    for p in problems {
        writeln!(text, "  - {p}").unwrap();
    }
    writeln!(
        text,
        "exit code {:?}, signal {:?}, {:.1} s",
        outcome.code, outcome.signal, outcome.seconds
    )
    .unwrap();
    let head = |b: &[u8]| -> String { String::from_utf8_lossy(&b[..b.len().min(4000)]).into() };
    writeln!(text, "--- stderr\n{}", head(&outcome.stderr)).unwrap();
    writeln!(text, "--- stdout\n{}", head(&outcome.stdout)).unwrap();
    std::fs::write(out.join("CASE.txt"), text).unwrap();
    out
}

/// The fuzz cases: `EDGEPLAN_FUZZ_CASES` of them from `EDGEPLAN_FUZZ_SEED`, on
/// `EDGEPLAN_FUZZ_WORKERS` threads.
#[test]
fn fuzz_cases() {
    let seed: u64 = env_num("EDGEPLAN_FUZZ_SEED", 0);
    let cases: usize = env_num("EDGEPLAN_FUZZ_CASES", DEFAULT_CASES);
    let only: Option<usize> = std::env::var("EDGEPLAN_FUZZ_CASE")
        .ok()
        .map(|v| v.trim().parse().expect("EDGEPLAN_FUZZ_CASE"));
    let workers: usize = env_num("EDGEPLAN_FUZZ_WORKERS", 2).max(1);
    let limit = Duration::from_secs_f64(env_num("EDGEPLAN_FUZZ_TIMEOUT_S", 30.0));
    let started = Instant::now();
    let tmpl = template();
    let indices: Vec<usize> = match only {
        Some(i) => vec![i],
        None => (0..cases).collect(),
    };
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<Failure>::new());
    // Exit 3 (solver or internal failure) is allowed, but listed: an input that reaches it is
    // usually one the checks of the input should have refused.
    let internal = Mutex::new(Vec::<String>::new());
    let done = AtomicUsize::new(0);
    let verbose = std::env::var_os("EDGEPLAN_FUZZ_VERBOSE").is_some();
    // How the runs ended, per subcommand and exit code (printed at the end).
    let tally = Mutex::new(BTreeMap::<String, usize>::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(&index) = indices.get(k) else { break };
                let case_dir = tempfile::tempdir().unwrap();
                let dir = case_dir.path();
                copy_tree(tmpl.path(), dir);
                let case = make_case(index, seed, dir);
                let before = top_files(dir);
                // Replay and profile run a real transformer: four times the limit, so that a
                // loaded machine does not make a slow run look like a hang.
                let heavy = matches!(case.args[0].as_str(), "replay" | "profile");
                let outcome = run(dir, &case.args, if heavy { limit * 4 } else { limit });
                if outcome.code == Some(3) {
                    internal.lock().unwrap().push(format!(
                        "case {index}: {}\n    edgeplan {}\n    {}",
                        case.mutation,
                        quote(&case.args),
                        String::from_utf8_lossy(&outcome.stderr).trim_end()
                    ));
                }
                let log = solver_log_name(&case.args);
                let written: Vec<(String, Vec<u8>)> = top_files(dir)
                    .into_iter()
                    .filter(|(name, bytes)| before.get(name) != Some(bytes))
                    .filter(|(name, _)| {
                        // HiGHS logs (alloc's later rounds write `<log>.round<r>`) and model
                        // exports write `inf` bounds by design.
                        !(name.ends_with(".log")
                            || log.as_deref().is_some_and(|l| name.starts_with(l))
                            || name.ends_with(".lp")
                            || name.ends_with(".mps"))
                    })
                    .collect();
                let problems = check(&outcome, &case.args, &written);
                let ended = match (outcome.hung, outcome.code) {
                    (true, _) => "hang".to_string(),
                    (false, Some(c)) => format!("exit {c}"),
                    (false, None) => format!("signal {:?}", outcome.signal),
                };
                *tally
                    .lock()
                    .unwrap()
                    .entry(format!("{} {ended}", case.args[0]))
                    .or_default() += 1;
                if verbose {
                    eprintln!(
                        "case {index}: {ended} in {:.2} s: {}\n  edgeplan {}\n  {}",
                        outcome.seconds,
                        case.mutation,
                        quote(&case.args),
                        String::from_utf8_lossy(&outcome.stderr)
                            .trim_end()
                            .replace('\n', "\n  ")
                    );
                }
                if !problems.is_empty() {
                    let saved = save_failure(&case, dir, seed, &outcome, &problems, only.is_some());
                    failures.lock().unwrap().push(Failure {
                        index,
                        problems,
                        mutation: case.mutation.clone(),
                        args: case.args.clone(),
                        saved,
                    });
                }
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                if n.is_multiple_of(100) {
                    eprintln!(
                        "fuzz: {n}/{} cases, {:.0} s",
                        indices.len(),
                        started.elapsed().as_secs_f64()
                    );
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|f| f.index);
    eprintln!(
        "fuzz: {} cases (seed {seed}) in {:.1} s, {} failing",
        indices.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    let tally: Vec<String> = tally
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    eprintln!("fuzz: outcomes: {}", tally.join(", "));
    let mut internal = internal.into_inner().unwrap();
    internal.sort();
    if !internal.is_empty() {
        eprintln!(
            "fuzz: {} case(s) exited 3 (allowed; worth a look):\n  {}",
            internal.len(),
            internal.join("\n  ")
        );
    }
    if failures.is_empty() {
        return;
    }
    // Grouped by what went wrong and the subcommand.
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for f in &failures {
        for p in &f.problems {
            let key = format!("{} | {}", f.args[0], normalise(p));
            groups.entry(key).or_default().push(f.index);
        }
    }
    let mut report = String::new();
    writeln!(
        report,
        "{} of {} fuzz cases failed (seed {seed}).",
        failures.len(),
        indices.len()
    )
    .unwrap();
    writeln!(report, "Classes (subcommand | problem: cases):").unwrap();
    for (k, v) in &groups {
        writeln!(
            report,
            "  {k}: {} case(s), e.g. {:?}",
            v.len(),
            &v[..v.len().min(5)]
        )
        .unwrap();
    }
    writeln!(
        report,
        "Every failing case (saved under {}):",
        failures_dir().display()
    )
    .unwrap();
    for f in &failures {
        writeln!(
            report,
            "  case {}: {}\n    mutation: {}\n    command: edgeplan {}\n    saved: {}",
            f.index,
            f.problems.join(" / "),
            f.mutation,
            quote(&f.args),
            f.saved.display()
        )
        .unwrap();
    }
    panic!("{report}");
}

// ---------------------------------------------------------------------------------------------
// Closed standard output and a full disk.

/// Commands that print to standard output, for the closed-pipe and full-disk cases.
fn printing_commands() -> Vec<Vec<String>> {
    vec![
        s(&["costs", "gpt2"]),
        s(&["costs", "--validate"]),
        s(&["solve", "instances/split/llama2-7b-jetson.toml", "--json"]),
        s(&[
            "solve",
            "instances/alloc/alloc-5-users.toml",
            "--solver",
            "local-search",
        ]),
        s(&["generate", "alloc", "--users", "50"]),
        s(&["generate", "cache"]),
        s(&["generate", "green"]),
        s(&["generate", "pipeline", "--nodes", "6", "--topology", "tree"]),
        s(&["sweep", "instances/sweeps/green-slack.toml", "--dry-run"]),
        s(&[
            "calibrate",
            "--model",
            "gpt2",
            "--device",
            "epyc-zen4-2vcpu",
        ]),
    ]
}

/// `edgeplan ... | head -c 0`: standard output closed before the command writes. Expected: exit
/// 0 (the reader went away; nothing is wrong with the input) and no panic.
#[test]
fn closed_stdout() {
    let root = common::root();
    let mut bad = Vec::new();
    for args in printing_commands() {
        let mut child = limited(&root, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn edgeplan");
        drop(child.stdout.take());
        let err = read_capped(child.stderr.take().unwrap());
        let (status, hung) = wait_limited(child, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
        let code = status.and_then(|s| s.code());
        if hung || code != Some(0) || err.contains("panicked") {
            bad.push(format!(
                "edgeplan {} | (closed): exit {code:?}, hung {hung}, stderr: {}",
                quote(&args),
                err.trim_end()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Commands that write a file given on the command line, pointed at `/dev/full`: exit 2 and one
/// error line naming the file.
#[test]
fn full_disk() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs.csv");
    let out = common::edgeplan(&[
        "sweep",
        "instances/sweeps/green-slack.toml",
        "-o",
        runs.to_str().unwrap(),
        "-q",
        "-j",
        "1",
        "--max-runs",
        "2",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = runs.to_str().unwrap();
    let cases = [
        s(&["costs", "gpt2", "-o", "/dev/full"]),
        s(&["generate", "alloc", "-o", "/dev/full"]),
        s(&["generate", "cache", "-o", "/dev/full"]),
        s(&["generate", "green", "-o", "/dev/full"]),
        s(&["generate", "pipeline", "-o", "/dev/full"]),
        s(&["summarize", runs, "-o", "/dev/full"]),
        s(&["summarize", runs, "--merged", "/dev/full"]),
        s(&[
            "sweep",
            "instances/sweeps/green-slack.toml",
            "-o",
            "/dev/full",
            "--force",
            "-q",
            "-j",
            "1",
            "--max-runs",
            "2",
        ]),
        s(&[
            "solve",
            "instances/split/llama2-7b-jetson.toml",
            "--solver-log",
            "/dev/full",
        ]),
        s(&[
            "solve",
            "instances/split/llama2-7b-jetson.toml",
            "--write-model",
            "/dev/full",
        ]),
        profile_cmd("0", "/dev/full"),
    ];
    let mut bad = Vec::new();
    for args in cases {
        let o = run(&root, &args, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let one_line = err.trim_end().lines().count() == 1 && err.starts_with("error: ");
        if o.code != Some(2) || !one_line || !err.contains("/dev/full") || err.contains("panicked")
        {
            bad.push(format!(
                "edgeplan {}: exit {:?} (signal {:?}), stderr: {}",
                quote(&args),
                o.code,
                o.signal,
                err.trim_end()
            ));
        }
    }
    // Standard output on a full disk: any exit code of the table, no panic.
    for args in printing_commands() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut child = limited(&root, &args)
            .stdout(Stdio::from(full))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = read_capped(child.stderr.take().unwrap());
        let (status, hung) = wait_limited(child, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
        let code = status.and_then(|s| s.code());
        if hung || !matches!(code, Some(0..=3)) || err.contains("panicked") {
            bad.push(format!(
                "edgeplan {} > /dev/full: exit {code:?}, hung {hung}, stderr: {}",
                quote(&args),
                err.trim_end()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn non_finite_tokens_are_found() {
    assert!(non_finite_token("latency 1.5 s").is_none());
    assert!(non_finite_token("llama2-13b-phone-infeasible, info").is_none());
    assert!(non_finite_token("\"objective\": NaN,").is_some());
    assert!(non_finite_token("x,inf\n").is_some());
    assert!(non_finite_token("total -inf s").is_some());
    assert!(non_finite_token("inf").is_some());
    let echoed = vec!["infinity".to_string()];
    assert!(non_finite_token_except("# --device infinity", &echoed).is_none());
    assert!(non_finite_token_except("x,nan", &echoed).is_some());
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        solver_log_name(&args(&["solve", "--solver-log=-5"])).as_deref(),
        Some("-5")
    );
    assert_eq!(
        solver_log_name(&args(&["solve", "--solver-log", "s.log"])).as_deref(),
        Some("s.log")
    );
}

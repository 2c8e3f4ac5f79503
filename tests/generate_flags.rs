//! Every flag of `edgeplan generate alloc|cache|green|collab` that takes a value, given a bad
//! value: exit code 2, one line on standard error starting `error:`, naming the flag the user
//! typed and no other (`--blocks`, never the parameter behind it, `--resource-blocks`). Where clap
//! itself refuses the value (a negative count, a word for a number) only the exit code is
//! checked. Each test also checks that its cases cover every value-taking flag that `--help`
//! lists.

use std::collections::BTreeSet;
use std::path::Path;

mod common;

use common::edgeplan;

/// What a bad value does.
#[derive(Clone, Copy)]
enum Expect {
    /// An error of ours, naming this flag.
    Flag(&'static str),
    /// Refused by clap (exit code 2, clap's own message).
    Clap,
}

use Expect::{Clap, Flag};

/// The flags a command line typed: `--name` of `--name=value`.
fn typed_flags(args: &[String]) -> BTreeSet<String> {
    args.iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap().to_string())
        .collect()
}

/// The `--flags` a message mentions.
fn mentioned_flags(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let tail = &rest[at + 2..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(tail.len());
        if end > 0 {
            flags.insert(format!("--{}", &tail[..end]));
        }
        rest = &tail[end..];
    }
    flags
}

/// The long flags of `edgeplan generate <problem>` that take a value, from its `--help`.
fn value_flags(problem: &str) -> BTreeSet<String> {
    let out = edgeplan(&["generate", problem, "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    let flags: BTreeSet<String> = help
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| w.starts_with("--"))?;
            let flag = words[at].trim_end_matches(',');
            // A flag that takes a value is followed by its <VALUE> on the same line.
            words
                .get(at + 1)
                .filter(|w| w.starts_with('<'))
                .map(|_| flag.to_string())
        })
        .filter(|flag| flag != "--help")
        .collect();
    assert!(
        flags.contains("--seed") && flags.contains("--out"),
        "could not read the flags of `generate {problem} --help`: {flags:?}\n{help}"
    );
    flags
}

/// Runs every case of `edgeplan generate <problem>` and checks that together they cover every
/// flag that takes a value; returns the number of cases.
fn check_cases(problem: &str, cases: &[(Vec<String>, Expect)]) -> usize {
    let mut covered = BTreeSet::new();
    for (flags, expect) in cases {
        let mut args = vec!["generate".to_string(), problem.to_string()];
        args.extend(flags.iter().cloned());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = edgeplan(&argv);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {err}");
        assert!(out.stdout.is_empty(), "{argv:?}: wrote to standard output");
        assert!(!err.contains("panicked"), "{argv:?}: {err}");
        let typed = typed_flags(flags);
        covered.extend(typed.iter().cloned());
        let Flag(flag) = expect else { continue };
        assert!(typed.contains(*flag), "case {argv:?} does not type {flag}");
        common::assert_one_error_line(&argv, &err);
        assert!(
            err.contains(&format!("`{flag}`")),
            "{argv:?}: expected `{flag}` in: {err}"
        );
        let stray: Vec<_> = mentioned_flags(&err).difference(&typed).cloned().collect();
        assert!(
            stray.is_empty(),
            "{argv:?}: names flags the user did not type, {stray:?}: {err}"
        );
    }
    let missing: Vec<_> = value_flags(problem).difference(&covered).cloned().collect();
    assert!(
        missing.is_empty(),
        "generate {problem}: no bad-value case for {missing:?}"
    );
    cases.len()
}

/// `(command line, expectation)` cases from `("--flag=value ...", expectation)`: each
/// whitespace-separated word is one argument (values hold no spaces).
fn cases(list: &[(&str, Expect)]) -> Vec<(Vec<String>, Expect)> {
    list.iter()
        .map(|(line, expect)| {
            let args = line.split_whitespace().map(String::from).collect();
            (args, *expect)
        })
        .collect()
}

/// The cases every command shares: an empty `--name`, a catalog directory without a catalog or
/// without models, and an instance file that cannot be written. Returns `dir`'s cases.
fn common_cases(dir: &Path) -> Vec<(Vec<String>, Expect)> {
    let no_models = dir.join("no-models");
    std::fs::create_dir_all(&no_models).unwrap();
    std::fs::copy(
        common::root().join("instances/devices.csv"),
        no_models.join("devices.csv"),
    )
    .unwrap();
    let arg = |flag: &str, path: &Path| vec![format!("{flag}={}", path.display())];
    vec![
        (vec!["--name=".into()], Flag("--name")),
        (vec!["--name=   ".into()], Flag("--name")),
        (
            arg("--instances", &dir.join("no/such/dir")),
            Flag("--instances"),
        ),
        (arg("--instances", &no_models), Flag("--instances")),
        (arg("--out", &dir.join("no/such/dir/x.toml")), Flag("--out")),
        // A directory is not a file.
        (arg("--out", dir), Flag("--out")),
    ]
}

/// Checks `list` and the common cases on `edgeplan generate <problem>` (see [`check_cases`]).
fn check_problem(problem: &str, list: &[(&str, Expect)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = cases(list);
    all.extend(common_cases(dir.path()));
    let n = check_cases(problem, &all);
    eprintln!("generate {problem}: {n} bad-value cases");
}

#[test]
fn generate_alloc_flags_name_themselves() {
    let list = [
        ("--users=0", Flag("--users")),
        ("--users=-1", Clap),
        ("--servers=0", Flag("--servers")),
        ("--servers=two", Clap),
        ("--seed=-1", Clap),
        ("--seed=1.5", Clap),
        ("--blocks=0", Flag("--blocks")),
        ("--blocks=-3", Clap),
        ("--rb-bandwidth=0", Flag("--rb-bandwidth")),
        ("--rb-bandwidth=-180e3", Flag("--rb-bandwidth")),
        ("--rb-bandwidth=nan", Flag("--rb-bandwidth")),
        ("--rb-bandwidth=inf", Flag("--rb-bandwidth")),
        ("--radius=0", Flag("--radius")),
        ("--radius=-1", Flag("--radius")),
        ("--radius=NaN", Flag("--radius")),
        ("--spacing=0", Flag("--spacing")),
        ("--spacing=nan", Flag("--spacing")),
        ("--spacing=-inf", Flag("--spacing")),
        ("--rtt=-0.01", Flag("--rtt")),
        ("--rtt=nan", Flag("--rtt")),
        ("--rtt=inf", Flag("--rtt")),
        ("--models=no-such-model", Flag("--models")),
        ("--models=", Flag("--models")),
        ("--models=llama-3.2-1b,,gpt2", Flag("--models")),
        ("--models=no/such/model.toml", Flag("--models")),
        ("--dtypes=q3", Flag("--dtypes")),
        ("--dtypes=fp16,", Flag("--dtypes")),
        ("--devices=no-such-device", Flag("--devices")),
        ("--devices=", Flag("--devices")),
        ("--server-device=no-such-device", Flag("--server-device")),
        ("--server-device=", Flag("--server-device")),
        ("--finetune-fraction=1.5", Flag("--finetune-fraction")),
        ("--finetune-fraction=-0.1", Flag("--finetune-fraction")),
        ("--finetune-fraction=nan", Flag("--finetune-fraction")),
        ("--deadline-factor=0", Flag("--deadline-factor")),
        ("--deadline-factor=-2", Flag("--deadline-factor")),
        ("--deadline-factor=inf", Flag("--deadline-factor")),
        ("--deadline-factor=nan", Flag("--deadline-factor")),
        ("--objective=fastest", Flag("--objective")),
        ("--objective=", Flag("--objective")),
        // The first bad flag is named, whichever else is typed.
        ("--users=4 --blocks=0 --seed=3", Flag("--blocks")),
    ];
    check_problem("alloc", &list);
}

#[test]
fn generate_cache_flags_name_themselves() {
    let list = [
        ("--servers=0", Flag("--servers")),
        ("--servers=-4", Clap),
        ("--models=0", Flag("--models")),
        ("--models=-1", Clap),
        ("--users=0", Flag("--users")),
        ("--users=many", Clap),
        ("--seed=x", Clap),
        ("--bases=nomodel@q4", Flag("--bases")),
        ("--bases=llama-3.2-1b@q3", Flag("--bases")),
        ("--bases=", Flag("--bases")),
        ("--bases=gpt2@q4,,", Flag("--bases")),
        ("--lora-fraction=1.5", Flag("--lora-fraction")),
        ("--lora-fraction=-0.5", Flag("--lora-fraction")),
        ("--lora-fraction=nan", Flag("--lora-fraction")),
        ("--top-layers-fraction=1.1", Flag("--top-layers-fraction")),
        ("--top-layers-fraction=-0.1", Flag("--top-layers-fraction")),
        // Fractions that are fine alone but sum past 1.
        (
            "--lora-fraction=0.6 --top-layers-fraction=0.5",
            Flag("--lora-fraction"),
        ),
        ("--storage=-1", Flag("--storage")),
        ("--storage=nan", Flag("--storage")),
        ("--storage=inf", Flag("--storage")),
        ("--spacing=0", Flag("--spacing")),
        ("--spacing=nan", Flag("--spacing")),
        ("--coverage=0", Flag("--coverage")),
        ("--coverage=-1", Flag("--coverage")),
        ("--bandwidth=0", Flag("--bandwidth")),
        ("--bandwidth=inf", Flag("--bandwidth")),
        ("--backhaul=0", Flag("--backhaul")),
        ("--backhaul=-1", Flag("--backhaul")),
        ("--backhaul=nan", Flag("--backhaul")),
        ("--devices=no-such-device", Flag("--devices")),
        ("--devices=", Flag("--devices")),
        ("--latency-limit=5,1", Flag("--latency-limit")),
        ("--latency-limit=0,1", Flag("--latency-limit")),
        ("--latency-limit=1", Flag("--latency-limit")),
        ("--latency-limit=1,2,3", Flag("--latency-limit")),
        ("--latency-limit=nan,1", Flag("--latency-limit")),
        ("--latency-limit=1,inf", Flag("--latency-limit")),
        ("--latency-limit=a,b", Clap),
        ("--zipf=-0.5", Flag("--zipf")),
        ("--zipf=nan", Flag("--zipf")),
        ("--zipf=inf", Flag("--zipf")),
        // A switch takes no value.
        ("--per-user-order=yes", Clap),
        ("--servers=2 --spacing=0 --users=5", Flag("--spacing")),
    ];
    check_problem("cache", &list);
}

#[test]
fn generate_green_flags_name_themselves() {
    let list = [
        ("--jobs=0", Flag("--jobs")),
        ("--jobs=-1", Clap),
        ("--servers=0", Flag("--servers")),
        ("--servers=1.5", Clap),
        ("--slots=0", Flag("--slots")),
        ("--slots=3", Flag("--slots")),
        ("--slot-s=0", Flag("--slot-s")),
        ("--slot-s=-3600", Flag("--slot-s")),
        ("--slot-s=nan", Flag("--slot-s")),
        ("--seed=-1", Clap),
        ("--load=0", Flag("--load")),
        ("--load=-0.5", Flag("--load")),
        ("--load=nan", Flag("--load")),
        ("--load=inf", Flag("--load")),
        ("--deadline-slack=0", Flag("--deadline-slack")),
        ("--deadline-slack=-1", Flag("--deadline-slack")),
        ("--deadline-slack=inf", Flag("--deadline-slack")),
        ("--devices=no-such-device", Flag("--devices")),
        ("--devices=l4,no-such-device", Flag("--devices")),
        ("--devices=", Flag("--devices")),
        ("--models=no-such-model", Flag("--models")),
        ("--models=", Flag("--models")),
        ("--objective=fastest", Flag("--objective")),
        ("--objective=", Flag("--objective")),
        ("--jobs=3 --load=0 --slots=12", Flag("--load")),
    ];
    check_problem("green", &list);
}

#[test]
fn generate_collab_flags_name_themselves() {
    let list = [
        ("--users=0", Flag("--users")),
        ("--users=-1", Clap),
        ("--seed=-1", Clap),
        ("--variants=nope:q4", Flag("--variants")),
        ("--variants=llama-3.2-1b:q3", Flag("--variants")),
        ("--variants=", Flag("--variants")),
        ("--variants=gpt2:q4", Flag("--variants")),
        ("--edge-device=nope", Flag("--edge-device")),
        ("--edge-memory=0", Flag("--edge-memory")),
        ("--edge-memory=nan", Flag("--edge-memory")),
        ("--blocks=0", Flag("--blocks")),
        ("--rb-bandwidth=0", Flag("--rb-bandwidth")),
        ("--radius=-1", Flag("--radius")),
        ("--rtt=nan", Flag("--rtt")),
        ("--max-utilisation=1", Flag("--max-utilisation")),
        ("--max-utilisation=0", Flag("--max-utilisation")),
        ("--devices=no-such-device", Flag("--devices")),
        ("--devices=", Flag("--devices")),
        ("--prompt-tokens=9,3", Flag("--prompt-tokens")),
        ("--prompt-tokens=3", Flag("--prompt-tokens")),
        ("--output-tokens=0,3", Flag("--output-tokens")),
        ("--rate=0,1", Flag("--rate")),
        ("--rate=1,nan", Flag("--rate")),
        ("--deadline=5", Flag("--deadline")),
        ("--deadline=5,1", Flag("--deadline")),
        ("--energy-limit=10,1", Flag("--energy-limit")),
        ("--quality-target=50,120", Flag("--quality-target")),
        ("--objective=cheapest", Flag("--objective")),
        ("--modes=device,cloud", Flag("--modes")),
        ("--modes=", Flag("--modes")),
        ("--max-draft-length=0", Flag("--max-draft-length")),
        ("--max-draft-length=65", Flag("--max-draft-length")),
        ("--escalations=0.5,1.5", Flag("--escalations")),
        ("--escalations=0.5,0.5", Flag("--escalations")),
        ("--router-sharpness=0.5", Flag("--router-sharpness")),
        ("--users=3 --blocks=0 --seed=2", Flag("--blocks")),
    ];
    check_problem("collab", &list);
}

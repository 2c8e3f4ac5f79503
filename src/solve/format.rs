//! Number formatting shared by the text reports.

/// Seconds with a unit that keeps three or four significant digits.
pub fn secs(s: f64) -> String {
    if s == 0.0 {
        "0 s".into()
    } else if s < 1e-3 {
        format!("{:.1} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

/// Bytes in B, kB, MB or GB (decimal units).
pub fn bytes(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

/// An optional number with six decimals, `-` when absent.
pub fn num(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.6}"))
}

/// An optional relative gap in percent, `-` when absent.
pub fn percent(g: Option<f64>) -> String {
    g.map_or("-".into(), |g| format!("{:.4}%", 100.0 * g))
}

/// `time      build ...   solve ...[   nodes N]<extra>` and a newline.
pub fn time_line(stats: &super::SolveStats, extra: &str) -> String {
    format!(
        "time      build {}   solve {}{}{extra}\n",
        secs(stats.build_s),
        secs(stats.solve_s),
        stats
            .nodes
            .map_or(String::new(), |n| format!("   nodes {n}"))
    )
}

/// `solver    NAME   TERMINATION / PRIMAL   <label> OBJECTIVE   bound ...   gap ...   build ...
/// solve ...` and a newline: the status of a report on one line.
pub fn solver_line(stats: &super::SolveStats, label: &str) -> String {
    format!(
        "solver    {}   {} / {}   {label} {}   bound {}   gap {}   build {}   solve {}\n",
        stats.solver,
        stats.termination,
        stats.primal_status,
        num(stats.objective),
        num(stats.bound),
        percent(stats.gap),
        secs(stats.build_s),
        secs(stats.solve_s)
    )
}

/// The explanation of a report under `heading` (one `  - line` per entry), empty without one.
pub fn explanation(heading: &str, lines: &[String]) -> String {
    let mut out = String::new();
    if !lines.is_empty() {
        out.push_str(heading);
        out.push('\n');
        for line in lines {
            out.push_str("  - ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The violated constraints of an evaluation: `{label}all satisfied` when there are none, else
/// one `  - [constraint] message` line each under "violated constraints".
pub fn violations(label: &str, list: &[super::violation::Violation]) -> String {
    if list.is_empty() {
        return format!("{label}all satisfied\n");
    }
    let mut out = String::from("violated constraints\n");
    for v in list {
        out.push_str(&format!("  - [{}] {}\n", v.constraint, v.message));
    }
    out
}

/// The status line of a report: termination, plan status, objective (named `objective`), bound
/// and gap.
pub fn status_line(stats: &super::SolveStats, objective: &str) -> String {
    format!(
        "status    {} / plan {}   objective {} ({objective})   bound {}   gap {}\n",
        stats.termination,
        stats.primal_status,
        num(stats.objective),
        num(stats.bound),
        percent(stats.gap),
    )
}

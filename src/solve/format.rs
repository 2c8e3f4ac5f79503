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

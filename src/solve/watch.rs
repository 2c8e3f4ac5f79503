//! Watching and stopping long solves.
//!
//! Every HiGHS solve ([`crate::solve::Milp`]) installs a callback that does two things:
//! - **stop**: once [`request_stop`] has been called (the command line calls it on Ctrl-C), the
//!   callback asks HiGHS to interrupt; HiGHS then returns its incumbent with the status
//!   "interrupted", which the formulations treat as a reached limit, and any later solve of the
//!   same run starts with a zero time limit. A solve stopped this way reports its best plan as
//!   `limit_reached`, as a time limit would.
//! - **progress**: when [`show_progress`] is on, a line with the elapsed time, the incumbent, the
//!   bound, the gap and the node count (in the units of the report: unscaled, with the
//!   objective's constant, maximised where the problem maximises) is written to standard error at
//!   most once a second, from the second second of the run on. On a terminal the line is
//!   rewritten in place; elsewhere each update is a new line.
//!
//! Both are process-wide: a signal handler has no other way in, and a library caller that never
//! calls them sees no change.

use std::io::Write as _;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::report::relative_gap;

static STOP: AtomicBool = AtomicBool::new(false);
static PROGRESS: Mutex<Option<Progress>> = Mutex::new(None);

/// Updates are at least this far apart, and the first comes this long after the run started.
const PERIOD: Duration = Duration::from_secs(1);

/// Asks every running and later HiGHS solve of this process to stop and return its incumbent.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop has been requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Where progress lines go and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// Rewrite one line in place (`\r`), for a terminal.
    InPlace,
    /// One line per update, for a file or a pipe.
    Lines,
}

struct Progress {
    style: ProgressStyle,
    started: Instant,
    last: Option<Instant>,
    /// Whether an in-place line is on the screen (and must be ended).
    open: bool,
}

/// Turns progress lines on (from now: the elapsed time counts from this call) or off.
pub fn show_progress(style: Option<ProgressStyle>) {
    if let Ok(mut progress) = PROGRESS.lock() {
        *progress = style.map(|style| Progress {
            style,
            started: Instant::now(),
            last: None,
            open: false,
        });
    }
}

/// Ends an in-place progress line, so that what is printed next starts on a fresh line.
pub fn end_progress() {
    if let Ok(mut progress) = PROGRESS.lock() {
        if let Some(p) = progress.as_mut().filter(|p| p.open) {
            let _ = writeln!(std::io::stderr());
            p.open = false;
        }
    }
}

/// Writes `line` when progress is on and an update is due.
fn report(line: impl FnOnce(f64) -> String) {
    let Ok(mut progress) = PROGRESS.lock() else {
        return;
    };
    let Some(p) = progress.as_mut() else {
        return;
    };
    let now = Instant::now();
    let due = match p.last {
        Some(last) => now.duration_since(last) >= PERIOD,
        None => now.duration_since(p.started) >= PERIOD,
    };
    if !due {
        return;
    }
    p.last = Some(now);
    let text = line(now.duration_since(p.started).as_secs_f64());
    let mut err = std::io::stderr().lock();
    match p.style {
        ProgressStyle::InPlace => {
            let _ = write!(err, "\r\x1b[2K{text}");
            p.open = true;
        }
        ProgressStyle::Lines => {
            let _ = writeln!(err, "{text}");
        }
    }
    let _ = err.flush();
}

/// How HiGHS's objective maps to the report's: `sign · (value / scale + offset)` (the scale and
/// offset include the formulation's own [`MipOptions::report_scale`](super::MipOptions)).
#[derive(Debug, Clone, Copy)]
pub struct Units {
    /// The factor HiGHS's objective was multiplied by.
    pub scale: f64,
    /// The constant term dropped from HiGHS's objective.
    pub offset: f64,
    /// -1 where the problem maximises (HiGHS minimises the negated objective).
    pub sign: f64,
}

impl Units {
    fn of(&self, value: f64) -> Option<f64> {
        value
            .is_finite()
            .then(|| self.sign * (value / self.scale + self.offset))
            .filter(|v| v.is_finite())
    }
}

/// What the callback of one solve needs; it lives until the solve returns.
pub struct Watch {
    /// `None`: stop only, no progress lines (a model whose objective is not the report's).
    units: Option<Units>,
    /// What the lines are about when it is not the problem's MILP (e.g. `restricted master`).
    label: &'static str,
    relax: bool,
    mip_seen: bool,
    /// The last LP iteration count HiGHS reported (none yet: `None`).
    iterations: Option<c_int>,
}

/// Makes a HiGHS model built outside [`crate::solve::Milp`] stop on [`request_stop`] (without
/// progress lines: its objective is not the report's); keep the returned box alive until the
/// solve returns.
pub fn interruptible(model: &mut highs::Model) -> Box<Watch> {
    Watch::attach(model, None, false, "")
}

/// Like [`interruptible`], with progress lines in the report's units (`units`), headed by
/// `label` (what the model is: its bound need not be the problem's).
pub fn watched(model: &mut highs::Model, units: Units, label: &'static str) -> Box<Watch> {
    Watch::attach(model, Some(units), false, label)
}

impl Watch {
    /// Installs the callback on `model`; keep the returned box alive until the solve returns.
    pub(crate) fn attach(
        model: &mut highs::Model,
        units: Option<Units>,
        relax: bool,
        label: &'static str,
    ) -> Box<Watch> {
        let mut watch = Box::new(Watch {
            units,
            label,
            relax,
            mip_seen: false,
            iterations: None,
        });
        let data = (&mut *watch as *mut Watch).cast::<c_void>();
        // SAFETY: the model pointer is valid for the lifetime of `model`; `data` points into a
        // box the caller keeps alive while HiGHS runs, and the callback only touches it through
        // that pointer during `Highs_run`, on the solving thread.
        unsafe {
            let highs = model.as_mut_ptr();
            highs_sys::Highs_setCallback(highs, Some(callback), data);
            for kind in [
                highs_sys::kHighsCallbackMipInterrupt,
                highs_sys::kHighsCallbackSimplexInterrupt,
                highs_sys::kHighsCallbackIpmInterrupt,
            ] {
                highs_sys::Highs_startCallback(highs, kind);
            }
        }
        watch
    }

    fn on_mip(&mut self, out: &highs_sys::HighsCallbackDataOut) {
        self.mip_seen = true;
        let Some(units) = self.units else {
            return;
        };
        let incumbent = units.of(out.mip_primal_bound);
        let bound = units.of(out.mip_dual_bound);
        let nodes = out.mip_node_count;
        let label = self.label;
        report(|elapsed| {
            let gap = match (incumbent, bound) {
                (Some(o), Some(b)) => format!("{:.3}%", 100.0 * relative_gap(o, b)),
                _ => "-".into(),
            };
            let label = if label.is_empty() {
                String::new()
            } else {
                format!("{label}: ")
            };
            format!(
                "{elapsed:7.1} s  {label}incumbent {}  bound {}  gap {gap}  nodes {nodes}",
                number(incumbent),
                number(bound)
            )
        });
    }

    fn on_lp(&mut self, out: &highs_sys::HighsCallbackDataOut, kind: c_int) {
        if self.mip_seen || self.units.is_none() {
            return;
        }
        let (method, iterations) = if kind == highs_sys::kHighsCallbackIpmInterrupt {
            ("interior point", out.ipm_iteration_count)
        } else {
            ("simplex", out.simplex_iteration_count)
        };
        // IPX passes -1 from inside its work (the linear solves of an iteration, the basis
        // construction, the crossover) and the count only at the head of an iteration: the last
        // count seen stands for those.
        if iterations >= 0 {
            self.iterations = Some(iterations);
        }
        let done = self.iterations;
        let what = if self.relax {
            "LP relaxation"
        } else {
            "root LP"
        };
        report(|elapsed| match done {
            Some(n) => format!("{elapsed:7.1} s  {what}: {method} iteration {n}"),
            None => format!("{elapsed:7.1} s  {what}: {method}, starting"),
        });
    }
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.6}"))
}

/// The HiGHS callback: asks for an interrupt once a stop is requested, and reports progress.
unsafe extern "C" fn callback(
    kind: c_int,
    _message: *const c_char,
    out: *const highs_sys::HighsCallbackDataOut,
    data_in: *mut highs_sys::HighsCallbackDataIn,
    data: *mut c_void,
) {
    // Nothing here may unwind into HiGHS.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if stop_requested() && !data_in.is_null() {
            // SAFETY: HiGHS passes a valid input block for the interrupt callbacks.
            unsafe { (*data_in).user_interrupt = 1 };
        }
        if out.is_null() || data.is_null() {
            return;
        }
        // SAFETY: `data` is the `Watch` box installed by `Watch::attach`, alive during the solve;
        // `out` is valid for the duration of the call.
        let (watch, out) = unsafe { (&mut *data.cast::<Watch>(), &*out) };
        if kind == highs_sys::kHighsCallbackMipInterrupt {
            watch.on_mip(out);
        } else {
            watch.on_lp(out, kind);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_map_highs_objective_to_the_report() {
        let max = Units {
            scale: 10.0,
            offset: 2.0,
            sign: -1.0,
        };
        assert_eq!(max.of(-30.0), Some(1.0));
        assert_eq!(max.of(f64::INFINITY), None);
        let min = Units {
            scale: 0.5,
            offset: 0.0,
            sign: 1.0,
        };
        assert_eq!(min.of(2.0), Some(4.0));
    }
}

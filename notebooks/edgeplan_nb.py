"""The few helpers the edgeplan notebooks share: Student-t confidence intervals over seeds, a
mean line with its band, and figure output (PNG and SVG)."""

from pathlib import Path

import matplotlib
import matplotlib.ticker as ticker
import numpy as np
import pandas as pd
from scipy import stats

matplotlib.rcParams["svg.hashsalt"] = "edgeplan"  # stable SVG ids from run to run


def mean_ci(values, level=0.95):
    """(mean, half-width, n) of the values (NaN dropped); the half-width of the Student-t
    interval is t_{(1+level)/2, n-1} * s / sqrt(n), NaN for fewer than two values."""
    x = pd.Series(values, dtype=float).dropna().to_numpy()
    n = len(x)
    if n == 0:
        return np.nan, np.nan, 0
    if n == 1:
        return x[0], np.nan, 1
    half = stats.t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
    return x.mean(), half, n


def ci_table(df, by, value, level=0.95):
    """One row per group of the columns `by`: n, mean, ci_low and ci_high of column `value`."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, group in df.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        mean, half, n = mean_ci(group[value], level)
        rows.append((*key, n, mean, mean - half, mean + half))
    return pd.DataFrame(rows, columns=[*by, "n", "mean", "ci_low", "ci_high"])


def band(ax, table, x, label=None, color=None, **line):
    """Draws a ci_table (sorted by x) as a mean line with markers and a shaded 95% band."""
    table = table.sort_values(x)
    (handle,) = ax.plot(table[x], table["mean"], marker="o", ms=4, label=label, color=color, **line)
    ax.fill_between(table[x], table["ci_low"], table["ci_high"], color=handle.get_color(),
                    alpha=0.2, lw=0)
    return handle


def plain_log_ticks(axis, subs=(1.0, 2.0, 5.0)):
    """Labels a log axis (ax.xaxis or ax.yaxis) 1, 2, 5, 10, 20, ... instead of 10^k."""
    axis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def save(fig, figures, name, dpi=150):
    """Writes the figure as figures/name.png (dpi) and figures/name.svg; returns the paths."""
    figures = Path(figures)
    figures.mkdir(parents=True, exist_ok=True)
    png, svg = figures / f"{name}.png", figures / f"{name}.svg"
    fig.savefig(png, dpi=dpi, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    return [png, svg]

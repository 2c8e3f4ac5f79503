"""edgeplan from Python: plan LLM deployment at the mobile edge.

The same library as the ``edgeplan`` command line, called in process: every registered problem
(split, alloc, cache, green, pipeline, moe, collab) through one set of functions.

>>> import edgeplan
>>> problem = edgeplan.load("instances/split/llama2-7b-jetson.toml")
>>> result = edgeplan.solve(problem)                 # exact HiGHS solve, GIL released
>>> result.status, result.objective                  # doctest: +SKIP
('optimal', 2.93...)
>>> edgeplan.evaluate(problem, result.plan).feasible
True

``Result.to_dict()`` equals what ``edgeplan solve --json`` prints for the same instance and
preset. Errors raise ``BadInputError`` (the command line's exit code 2), ``InfeasibleError``
(exit code 1; it carries the result) or ``SolverError`` (exit code 3), all subclasses of
``EdgeplanError``, with the command line's messages. ``generate``, ``costs``, ``sweep`` and
``summarize`` return pandas DataFrames where the command line writes CSV.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Optional, Sequence, Union

from . import _edgeplan
from ._edgeplan import (
    BadInputError,
    EdgeplanError,
    Evaluation,
    InfeasibleError,
    Problem,
    Result,
    SolverError,
    __version__,
    evaluate,
    from_dict,
    load,
    problems,
    solve,
    solver_presets,
)

if TYPE_CHECKING:  # pandas is imported when a DataFrame is made
    import pandas

__all__ = [
    "BadInputError",
    "EdgeplanError",
    "Evaluation",
    "InfeasibleError",
    "Problem",
    "Result",
    "SolverError",
    "__version__",
    "costs",
    "evaluate",
    "from_dict",
    "generate",
    "load",
    "problems",
    "solve",
    "solver_presets",
    "summarize",
    "sweep",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Where ``generate`` finds ``devices.csv`` and ``models/`` by default: ``instances`` in the
#: working directory, as ``edgeplan generate --instances`` does.
DEFAULT_DATA_DIR = "instances"


def _json_default(value: object) -> object:
    """Plain values for what ``json`` cannot write but users pass: numpy scalars and arrays
    (``.tolist()``) and paths (``os.fspath``)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def generate(kind: str, data_dir: PathLike = DEFAULT_DATA_DIR, **params: object) -> Problem:
    """A seeded random instance of problem ``kind`` (``"alloc"``, ``"green"``, ...).

    ``params`` are the generator parameters named as in a sweep file's ``[fixed]`` and
    ``[grid]`` tables (e.g. ``generate("green", jobs=10, slots=24, seed=3)``); a parameter left
    out takes its default, an unknown or mistyped one raises ``BadInputError``. ``data_dir``
    holds the device catalog ``devices.csv`` and the model configs ``models/`` (default:
    ``instances`` in the working directory, as ``edgeplan generate`` uses).
    """
    return _edgeplan.generate(kind, dict(params), Path(data_dir))


def costs(
    model: str, dtype: str = "fp16", models_dir: PathLike = "instances/models"
) -> "pandas.DataFrame":
    """The per-layer cost table of ``model`` at weight type ``dtype`` (fp32, fp16, int8, q4).

    ``model`` is a config name in ``models_dir`` (``"llama-2-7b"``) or the path of a model TOML
    file. One row per layer, the columns of ``edgeplan costs MODEL --dtype DTYPE``.
    """
    import io

    import pandas as pd

    text = _edgeplan.costs_csv(model, dtype, Path(models_dir))
    return pd.read_csv(io.StringIO(text))


def sweep(
    path: PathLike,
    jobs: Optional[int] = None,
    out: Optional[PathLike] = None,
    *,
    shard: Optional[str] = None,
    resume: bool = False,
    force: bool = False,
    retry_errors: bool = False,
    max_runs: Optional[int] = None,
) -> "pandas.DataFrame":
    """Runs the sweep file ``path`` and returns its runs, one row per run.

    The rows and columns are those of the CSV ``edgeplan sweep`` writes (empty cells are NaN),
    in run order.
    ``jobs`` worker threads (default: one per core). Without ``out`` the CSV goes to a
    temporary file that is removed; with ``out`` it is kept there, and ``resume``, ``force``,
    ``retry_errors``, ``shard`` (``"i/n"``) and ``max_runs`` act as the command line's flags.
    """
    import pandas as pd

    def run(csv: Path) -> "pandas.DataFrame":
        _edgeplan.run_sweep_file(
            Path(path), csv, jobs or 0, shard, resume, force, retry_errors, max_runs
        )
        # Rows are written as runs finish; return them in run order.
        runs = pd.read_csv(csv)
        return runs.sort_values("run", kind="stable").reset_index(drop=True)

    if out is not None:
        return run(Path(out))
    with tempfile.TemporaryDirectory(prefix="edgeplan-sweep-") as tmp:
        return run(Path(tmp) / "runs.csv")


def _columns(value: Union[str, Sequence[str]]) -> list:
    """A list of column names from a list or a comma-separated string (as the CLI takes)."""
    if isinstance(value, str):
        return [c for c in value.split(",")]
    return [str(c) for c in value]


def _filters(where: Union[None, Mapping[str, object], Iterable[str]]) -> list:
    """(column, value) pairs from a dict or from ``COLUMN=VALUE`` strings."""
    if where is None:
        return []
    if isinstance(where, Mapping):
        return [(str(c), str(v)) for c, v in where.items()]
    pairs = []
    for item in where:
        column, sep, value = str(item).partition("=")
        if not sep:
            raise BadInputError(f"option `where`: expected COLUMN=VALUE, got `{item}`")
        pairs.append((column, value))
    return pairs


def summarize(
    runs: Union[PathLike, Sequence[PathLike], "pandas.DataFrame"],
    by: Union[str, Sequence[str]] = "solver",
    metric: Union[str, Sequence[str]] = "objective",
    where: Union[None, Mapping[str, object], Iterable[str]] = None,
    level: float = 0.95,
    merged: Optional[PathLike] = None,
) -> "pandas.DataFrame":
    """Count, mean, standard deviation and Student-t confidence interval of metrics per group.

    ``runs`` is a run file (CSV of ``edgeplan sweep``), a list of them (e.g. the shards of one
    sweep, merged as ``edgeplan summarize`` merges them) or a DataFrame of runs (as ``sweep``
    returns). ``by`` and ``metric`` are column names (a list or a comma-separated string);
    ``where`` keeps only the rows whose columns hold the given values (a dict, or
    ``"COLUMN=VALUE"`` strings); ``level`` is the confidence level; ``merged`` writes the merged
    rows there. The columns are those of ``edgeplan summarize --out``: the ``by`` columns,
    metric, count, missing, mean, std, ci_low, ci_high, min, max.
    """
    import pandas as pd

    by = _columns(by)
    metrics = _columns(metric)
    filters = _filters(where)
    merged_path = None if merged is None else Path(merged)
    if isinstance(runs, pd.DataFrame):
        with tempfile.TemporaryDirectory(prefix="edgeplan-summarize-") as tmp:
            csv = Path(tmp) / "runs.csv"
            runs.to_csv(csv, index=False)
            groups = _edgeplan.summarize_files([csv], by, metrics, filters, level, merged_path)
    else:
        paths = [runs] if isinstance(runs, (str, os.PathLike)) else list(runs)
        groups = _edgeplan.summarize_files(
            [Path(p) for p in paths], by, metrics, filters, level, merged_path
        )
    stats = ["metric", "count", "missing", "mean", "std", "ci_low", "ci_high", "min", "max"]
    rows = [[*g["key"], *(g[s] for s in stats)] for g in groups]
    table = pd.DataFrame(rows, columns=[*by, *stats])
    for column in by:  # numbers as numbers, as pandas reads the summary CSV
        try:
            table[column] = pd.to_numeric(table[column])
        except (ValueError, TypeError):
            pass
    for column in stats[3:]:
        table[column] = table[column].astype(float)
    return table

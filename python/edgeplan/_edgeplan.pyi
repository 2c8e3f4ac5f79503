"""Type stubs of the native module (built from python/src/lib.rs)."""

import os
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union, final

__version__: str

_PathLike = Union[str, "os.PathLike[str]"]
_Termination = Literal[
    "optimal", "limit_reached", "infeasible", "unbounded", "no_solution_found", "heuristic_done"
]
_PrimalStatus = Literal["feasible", "infeasible", "no_plan"]

class EdgeplanError(Exception):
    """Base class of every error edgeplan raises."""

class BadInputError(EdgeplanError):
    """Bad input: a file, field, CSV line, option or parameter (the CLI's exit code 2)."""

    exit_code: int

class InfeasibleError(EdgeplanError):
    """No feasible plan, or a plan that violates constraints (the CLI's exit code 1)."""

    exit_code: int
    #: The `Result` of `solve` or the `Evaluation` of `evaluate` that failed the check.
    result: Union["Result", "Evaluation"]

class SolverError(EdgeplanError):
    """The solver failed, or an internal check did (the CLI's exit code 3)."""

    exit_code: int

@final
class Problem:
    """A validated instance of any registered problem."""

    @property
    def kind(self) -> str:
        """The problem's name (`"split"`, `"alloc"`, ...)."""
    @property
    def name(self) -> str:
        """The instance's name."""
    @property
    def metric_names(self) -> List[str]:
        """The problem's metric names (the sweep columns between `solve_s` and `violations`)."""
    @property
    def solvers(self) -> List[str]:
        """The solver names the problem understands."""
    @property
    def source(self) -> Optional[Path]:
        """The instance file, or None for a generated or dict instance."""

@final
class Result:
    """The outcome of `solve`, as plain Python values."""

    @property
    def status(self) -> _Termination:
        """Why the solve stopped."""
    @property
    def primal_status(self) -> _PrimalStatus:
        """Whether a plan exists and meets every constraint."""
    @property
    def feasible(self) -> bool:
        """True when the result holds a plan that meets every constraint."""
    @property
    def objective(self) -> Optional[float]:
        """The plan's objective (None without a plan)."""
    @property
    def bound(self) -> Optional[float]:
        """The best proven bound (None for heuristics)."""
    @property
    def gap(self) -> Optional[float]:
        """The relative gap between objective and bound."""
    @property
    def solver(self) -> str:
        """The solver preset's name."""
    @property
    def plan(self) -> Optional[Dict[str, Any]]:
        """The plan, as in `solve --json` (None without a plan)."""
    @property
    def evaluation(self) -> Optional[Dict[str, Any]]:
        """The independent evaluation of the plan (None without a plan)."""
    @property
    def explanation(self) -> List[str]:
        """Why no plan is feasible (empty otherwise)."""
    @property
    def metrics(self) -> Optional[Dict[str, float]]:
        """The problem's metrics of the plan, as a sweep row records them."""
    @property
    def violations(self) -> Optional[int]:
        """Violated constraints of the plan (None without a plan)."""
    def to_dict(self) -> Dict[str, Any]:
        """A new dict equal to what `edgeplan solve --json` prints."""
    def to_json(self) -> str:
        """The report as `edgeplan solve --json` prints it."""

@final
class Evaluation:
    """The outcome of `evaluate`."""

    @property
    def objective(self) -> float:
        """The evaluator's objective of the plan."""
    @property
    def violations(self) -> int:
        """Violated constraints."""
    @property
    def feasible(self) -> bool:
        """True when the plan meets every constraint."""
    def to_dict(self) -> Dict[str, Any]:
        """A new dict equal to what `edgeplan evaluate --json` prints."""
    def to_json(self) -> str:
        """The evaluation as `edgeplan evaluate --json` prints it."""

def load(path: _PathLike) -> Problem:
    """Loads and validates an instance file (TOML or JSON) of any registered problem."""

def from_dict(document: Dict[str, Any], base_dir: _PathLike = ".") -> Problem:
    """Validates an instance document (a dict as an instance file holds it, `problem`
    included); relative paths in it resolve against `base_dir`."""

def solve(
    problem: Problem,
    solver: str = "highs",
    time_limit: Optional[float] = None,
    gap: Optional[float] = None,
    check: bool = True,
) -> Result:
    """Solves `problem` with a preset (a built-in name or a preset TOML file), the GIL
    released; `time_limit` (s) and `gap` override the preset's. Raises `InfeasibleError` (with
    the result) when no plan meets every constraint, unless `check` is False."""

def evaluate(
    problem: Problem, plan: Union[Dict[str, Any], Result], check: bool = True
) -> Evaluation:
    """Checks a plan (a report's `plan`, a whole report or a `Result`) with the independent
    evaluator. Raises `InfeasibleError` (with the evaluation) when the plan violates a
    constraint, unless `check` is False."""

def generate(kind: str, params: Dict[str, Any], data_dir: Path) -> Problem: ...
def costs_csv(model: str, dtype: str, models_dir: Path) -> str: ...
def run_sweep_file(
    path: Path,
    out: Path,
    jobs: int = 0,
    shard: Optional[str] = None,
    resume: bool = False,
    overwrite: bool = False,
    retry_errors: bool = False,
    max_runs: Optional[int] = None,
) -> Dict[str, Union[int, float]]: ...
def summarize_files(
    paths: Sequence[Path],
    by: Sequence[str],
    metrics: Sequence[str],
    filters: Sequence[Tuple[str, str]],
    level: float,
    merged: Optional[Path] = None,
) -> List[Dict[str, Any]]: ...
def solver_presets() -> List[str]:
    """The built-in solver preset names."""

def problems() -> List[str]:
    """The registered problem names."""

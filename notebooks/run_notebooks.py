#!/usr/bin/env python3
"""Regenerates the paper figures headless, as CI does.

1. Runs every sweep in instances/sweeps/*.toml with `edgeplan sweep FILE -o notebooks/data/STEM.csv
   --force --quiet`.
2. Executes every notebooks/*.ipynb with nbclient (kernel python3, 300 s per cell, working
   directory notebooks/), with EDGEPLAN_DATA=notebooks/data, EDGEPLAN_FIGURES=notebooks/figures and
   EDGEPLAN_BIN=the edgeplan binary (for notebooks that run it, e.g. cost-model.ipynb).
   The executed notebooks are not written back: the committed ones stay without outputs.
3. Checks that every figure a notebook declares in its metadata (`metadata.edgeplan.figures`, file
   names under the figures directory) was written by this run and is not empty.
4. Prints one line per notebook; exits 0 only when every sweep and notebook succeeded.

Usage (from anywhere): python3 notebooks/run_notebooks.py [--edgeplan PATH] [--no-sweeps] [NAME ...]
"""

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent
DATA = NOTEBOOKS / "data"
FIGURES = NOTEBOOKS / "figures"
CELL_TIMEOUT_S = 300


def default_edgeplan():
    """target/release/edgeplan under the repository, or under $CARGO_TARGET_DIR when that is set
    and the repository's has not been built (.ci/run builds into ~/.cache/edgeplan-target)."""
    local = ROOT / "target" / "release" / "edgeplan"
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    if not local.exists() and target_dir:
        return Path(target_dir) / "release" / "edgeplan"
    return local


def resolve_edgeplan(arg):
    if arg is None:
        path = default_edgeplan()
    elif os.sep not in arg and shutil.which(arg):
        path = Path(shutil.which(arg))
    else:
        path = Path(arg).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        sys.exit(f"run_notebooks: edgeplan binary not found at {path}: build it with "
                 f"`cargo build --release` in {ROOT}, or pass --edgeplan PATH")
    return path


def run_sweeps(edgeplan):
    sweeps = sorted((ROOT / "instances" / "sweeps").glob("*.toml"))
    if not sweeps:
        sys.exit("run_notebooks: no sweep files in instances/sweeps/")
    DATA.mkdir(parents=True, exist_ok=True)
    for sweep in sweeps:
        out = DATA / f"{sweep.stem}.csv"
        cmd = [str(edgeplan), "sweep", str(sweep.relative_to(ROOT)),
               "-o", str(out.relative_to(ROOT)), "--force", "--quiet"]
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"run_notebooks: sweep {sweep.name} failed (exit {proc.returncode}): "
                     f"{' '.join(cmd)}\n{proc.stderr.rstrip()}")
        rows = max(0, sum(1 for _ in out.open()) - 1)
        print(f"sweep {sweep.stem}: {rows} rows -> {out.relative_to(ROOT)} "
              f"({time.monotonic() - start:.1f} s)", flush=True)


def declared_figures(nb, name):
    figures = nb.metadata.get("edgeplan", {}).get("figures")
    if not figures or not isinstance(figures, list) or not all(isinstance(f, str) for f in figures):
        raise RuntimeError(f"{name}: metadata.edgeplan.figures must be a non-empty list of "
                           f"figure file names")
    return figures


def check_figures(name, figures, since):
    """Problems with the declared figures: missing, empty, or older than the run (left over)."""
    problems = []
    for fig in figures:
        path = FIGURES / fig
        if not path.is_file():
            problems.append(f"{name}: declared figure {fig} was not written "
                            f"(expected {path.relative_to(ROOT)})")
        elif path.stat().st_size == 0:
            problems.append(f"{name}: figure {fig} is empty")
        elif path.stat().st_mtime < since:
            problems.append(f"{name}: figure {fig} is older than this run (left over from an "
                            f"earlier one; the notebook did not write it)")
    return problems


def plain(text):
    """Text without the terminal colour codes IPython puts in tracebacks."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def run_notebook(path, since):
    """Executes one notebook; returns (figures, problems)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    name = path.name
    nb = nbformat.read(path, as_version=4)
    figures = declared_figures(nb, name)
    try:
        with tempfile.TemporaryDirectory(prefix="edgeplan-kernel-") as sockets:
            config = Config()
            if os.name == "posix":
                # Unix sockets: a kernel on TCP warns that its traffic is unencrypted.
                config.KernelManager.transport = "ipc"
                config.KernelManager.ip = os.path.join(sockets, "kernel")
            client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                    resources={"metadata": {"path": str(NOTEBOOKS)}},
                                    config=config)
            client.execute()
    except CellExecutionError as err:
        cell = next((i for i, c in enumerate(nb.cells)
                     if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        where = f"cell {cell + 1} of {len(nb.cells)}" if cell is not None else "a cell"
        return figures, [f"{name}: {where} raised {err.ename}: {plain(err.evalue)}\n"
                         f"{plain(str(err))}"]
    except CellTimeoutError as err:
        return figures, [f"{name}: a cell ran past {CELL_TIMEOUT_S} s: {err}"]
    except DeadKernelError as err:
        return figures, [f"{name}: the kernel died: {err}"]
    return figures, check_figures(name, figures, since)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edgeplan", metavar="PATH",
                        help="the edgeplan binary (default: target/release/edgeplan under the "
                             "repository root)")
    parser.add_argument("--no-sweeps", action="store_true",
                        help="reuse the CSVs already in notebooks/data")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="run only these notebooks (e.g. split or split.ipynb)")
    args = parser.parse_args()

    # Files written from here on count as this run's; whole seconds, for coarse file systems.
    since = math.floor(time.time())
    started = time.monotonic()
    edgeplan = None
    if not args.no_sweeps:
        edgeplan = resolve_edgeplan(args.edgeplan)
        run_sweeps(edgeplan)

    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.names:
        wanted = {n.removesuffix(".ipynb") for n in args.names}
        unknown = wanted - {p.stem for p in notebooks}
        if unknown:
            sys.exit(f"run_notebooks: no such notebook: {', '.join(sorted(unknown))}")
        notebooks = [p for p in notebooks if p.stem in wanted]
    if not notebooks:
        sys.exit("run_notebooks: no notebooks in notebooks/")

    FIGURES.mkdir(parents=True, exist_ok=True)
    os.environ["EDGEPLAN_DATA"] = str(DATA)
    os.environ["EDGEPLAN_FIGURES"] = str(FIGURES)
    if edgeplan is None:  # --no-sweeps: the notebooks that run the binary need it all the same
        edgeplan = resolve_edgeplan(args.edgeplan)
    os.environ["EDGEPLAN_BIN"] = str(edgeplan)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")  # silences a jupyter_core warning

    failed = []
    for path in notebooks:
        start = time.monotonic()
        try:
            figures, problems = run_notebook(path, since)
        except Exception as err:  # unreadable notebook, bad metadata, kernel that won't start
            figures, problems = [], [f"{path.name}: {type(err).__name__}: {err}"]
        seconds = time.monotonic() - start
        if problems:
            failed.append(path.name)
            print(f"FAIL {path.name} ({seconds:.1f} s)", flush=True)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr, flush=True)
        else:
            print(f"ok   {path.name}: {len(figures)} figures written ({', '.join(figures)}), "
                  f"{seconds:.1f} s", flush=True)

    total = time.monotonic() - started
    if failed:
        print(f"run_notebooks: {len(failed)} of {len(notebooks)} notebooks failed: "
              f"{', '.join(failed)} ({total:.1f} s)", file=sys.stderr)
        return 1
    print(f"run_notebooks: all {len(notebooks)} notebooks passed ({total:.1f} s); figures in "
          f"{FIGURES.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

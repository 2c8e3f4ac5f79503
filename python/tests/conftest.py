"""Shared fixtures: the repository root (the working directory of every test, as the CLI's
tests run from it) and the edgeplan binary the module is compared with."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def edgeplan_bin() -> Path:
    """$EDGEPLAN_BIN, else $CARGO_TARGET_DIR/release/edgeplan, else target/release/edgeplan;
    built with `cargo build --release --bin edgeplan` when missing."""
    if os.environ.get("EDGEPLAN_BIN"):
        return Path(os.environ["EDGEPLAN_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    binary = target / "release" / "edgeplan"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "--bin", "edgeplan"], cwd=ROOT, check=True)
    return binary


@pytest.fixture(scope="session")
def cli():
    """Runs the CLI from the repository root: cli(*args) -> CompletedProcess (text)."""
    binary = edgeplan_bin()

    def run(*args):
        return subprocess.run([str(binary), *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True)

    return run


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    """Every test runs in the repository root, so relative paths mean the same to the module
    and to the CLI."""
    monkeypatch.chdir(ROOT)


def cli_error(proc) -> str:
    """The message of the CLI's one-line error (`error: MESSAGE` on stderr)."""
    lines = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0][len("error: "):]


#: Wall-clock times: the only members of a report that differ between two solves.
TIME_FIELDS = ("build_s", "solve_s")


def without_times(report):
    """A report (dict) without its wall-clock times."""
    report = json.loads(json.dumps(report))
    for field in TIME_FIELDS:
        report["stats"].pop(field, None)
    return report


def shipped_instances():
    """Every instance file of a registered problem: instances/<problem>/*.toml whose
    `problem` field names a registered problem (as tests/conformance.rs finds them)."""
    import edgeplan

    registered = set(edgeplan.problems())
    found = []
    for path in sorted((ROOT / "instances").glob("*/*.toml")):
        match = re.search(r'^problem\s*=\s*"([^"]+)"', path.read_text(), re.MULTILINE)
        if match and match.group(1) in registered:
            found.append((match.group(1), path.relative_to(ROOT)))
    return found

#!/usr/bin/env python3
"""How often the optimal plan changes between the v1 and v2 cost models on the shipped instances.

For every shipped instance of split, pipeline, moe, alloc and cache (instances/<problem>/*.toml),
writes a v2 copy in which every tier, node and user table that names a device also names that
device's default runtime (DEFAULT_RUNTIME below), solves both with `edgeplan solve FILE --json`
(HiGHS, the default preset), and compares:

* changed: whether the optimal plan differs (split: the tier of every layer; pipeline: the stages
  and their nodes; moe: the placement of every expert; alloc: each user's server and cut; cache:
  the models stored on each server);
* v1_objective, v2_objective: the optimum under each model;
* v1_plan_under_v2: the v1 optimum evaluated under the v2 instance (`edgeplan evaluate`);
* v1_plan_feasible_under_v2: whether the v1 optimum meets every constraint of the v2 instance;
* regret_pct: how much worse that is than the v2 optimum, in percent of the v2 optimum (the
  objectives are minimised, except cache's hit ratio and collab's quality or served share, which
  are maximised); empty when the v1 plan breaks a v2 constraint.

Every table that names a device gets its runtime (cache servers name no device: they store
models and compute nothing).

Writes one row per instance to notebooks/data/cost-model-impact.csv (or --out) and prints a
summary. Instances whose exact solve takes longer than --skip-after seconds (default 20) under
either model are listed as skipped.

Usage: python3 scripts/cost-model-impact.py [--edgeplan PATH] [--out CSV] [--skip-after S]
       [-j JOBS] [--problems split,pipeline,...]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

# The default runtime of each device of devices.csv: the stack a deployment on it would most
# likely use (runtime ids: src/costs/runtime.rs, RUNTIMES).
DEFAULT_RUNTIME = {
    "phone-sd8gen3": "executorch",
    "rpi5": "llama.cpp-cpu",
    "jetson-orin-nano-8gb": "mlc-llm",
    "jetson-agx-orin-64gb": "tensorrt-llm",
    "laptop-m2-pro": "llama.cpp-metal",
    "rtx-4090": "llama.cpp-cuda",
    "l4": "tensorrt-llm",
    "a100-80gb-sxm": "tensorrt-llm",
    "h100-sxm": "tensorrt-llm",
    "epyc-zen4-2vcpu": "llama.cpp-cpu",
}

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ["split", "pipeline", "moe", "alloc", "cache", "collab"]
# Tables whose schema has `runtime` next to `device` (src/instance/common.rs TierSpec, the
# pipeline and moe nodes, the alloc servers and users, the cache users, the collab edge and users).
RUNTIME_TABLES = {
    "split": {"device", "edge", "cloud"},
    "pipeline": {"nodes"},
    "moe": {"nodes"},
    "alloc": {"servers", "users"},
    "cache": {"users"},
    "collab": {"edge", "users"},
}
MAXIMISED = {"cache", "collab"}
COLUMNS = ["problem", "instance", "status", "changed", "v1_objective", "v2_objective",
           "v1_plan_under_v2", "v1_plan_feasible_under_v2", "regret_pct", "what_changed", "v1_solve_s", "v2_solve_s"]

HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?\s*(#.*)?$")
DEVICE = re.compile(r'^(\s*)device\s*=\s*"([^"]+)"\s*(#.*)?$')


class Skip(Exception):
    """An instance left out of the study, with the reason."""


def with_runtimes(text, problem):
    """The instance text with `runtime = "..."` after the `device = "..."` line of every table
    that may name one; raises ValueError for a device without a default runtime or a table that
    already names a runtime."""
    allowed = RUNTIME_TABLES[problem]
    out, table, inserted = [], None, 0
    for line in text.splitlines(keepends=True):
        header = HEADER.match(line)
        if header:
            table = header.group(1).strip('"')
        device = DEVICE.match(line)
        out.append(line)
        if device and table in allowed:
            indent, name = device.group(1), device.group(2)
            if name not in DEFAULT_RUNTIME:
                raise ValueError(f"device `{name}` has no default runtime in DEFAULT_RUNTIME")
            newline = "" if line.endswith("\n") else "\n"
            out.append(f'{newline}{indent}runtime = "{DEFAULT_RUNTIME[name]}"\n')
            inserted += 1
    return "".join(out), inserted


def runtime_tables(doc, problem):
    """(table, device, runtime) for every table of the parsed instance that may name a runtime."""
    found = []
    for key in RUNTIME_TABLES[problem]:
        value = doc.get(key)
        tables = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for i, t in enumerate(tables):
            if isinstance(t, dict) and "device" in t:
                found.append((f"{key}[{i}]" if isinstance(value, list) else key, t["device"],
                              t.get("runtime")))
    return found


def check_v2(v1_text, v2_text, problem, path):
    """Verifies the v2 copy with tomllib: same document but for the added runtimes, and every
    table that may name a runtime names its device's default."""
    v1, v2 = tomllib.loads(v1_text), tomllib.loads(v2_text)
    for where, device, runtime in runtime_tables(v1, problem):
        if runtime is not None:
            raise ValueError(f"{path}: {where} already names runtime `{runtime}`")
    tables = runtime_tables(v2, problem)
    for where, device, runtime in tables:
        if runtime != DEFAULT_RUNTIME[device]:
            raise ValueError(f"{path}: the v2 copy's {where} has runtime {runtime!r}, expected "
                             f"{DEFAULT_RUNTIME[device]!r}")
    stripped = json.loads(json.dumps(v2))
    for key in RUNTIME_TABLES[problem]:
        value = stripped.get(key)
        for t in value if isinstance(value, list) else [value] if isinstance(value, dict) else []:
            if isinstance(t, dict):
                t.pop("runtime", None)
    if stripped != json.loads(json.dumps(v1)):
        raise ValueError(f"{path}: the v2 copy differs from the original beyond the runtimes")
    return len(tables)


def objective(problem, evaluation):
    """The objective of an evaluation (a cache evaluation reports it as the hit ratio)."""
    if problem == "cache":
        return evaluation["hit_ratio"]
    return evaluation["objective"]


def run(cmd, timeout):
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise Skip(f"solve takes more than {timeout:g} s") from None
    return proc, time.monotonic() - start


def solve(edgeplan, path, timeout):
    cmd = [edgeplan, "solve", str(path), "--json", "--progress", "never", "--threads", "1"]
    proc, seconds = run(cmd, timeout)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"edgeplan solve {path} failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()}") from None
    return report, seconds


def evaluate(edgeplan, instance, plan_report):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(plan_report, f)
        plan_path = f.name
    try:
        proc, _ = run([edgeplan, "evaluate", str(instance), plan_path, "--json"], 120)
    finally:
        os.unlink(plan_path)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"edgeplan evaluate {instance} failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()}")
    return json.loads(proc.stdout)


def tier_counts(assignment):
    return "/".join(str(assignment.count(t)) for t in ("device", "edge", "cloud"))


def compare(problem, r1, r2):
    """(changed, what changed in words) between the v1 and v2 reports' plans."""
    p1, p2 = r1["plan"], r2["plan"]
    if problem == "split":
        a1, a2 = p1["assignment"], p2["assignment"]
        if a1 == a2:
            return False, ""
        moved = sum(x != y for x, y in zip(a1, a2))
        return True, (f"{moved} of {len(a1)} layers move; device/edge/cloud layers "
                      f"{tier_counts(a1)} -> {tier_counts(a2)}")
    if problem == "pipeline":
        def stages(report):
            names = [s["node"] for s in report["evaluation"]["stages"]]
            return [(n, s["start"], s["end"]) for n, s in zip(names, report["plan"]["stages"])]
        s1, s2 = stages(r1), stages(r2)
        if s1 == s2:
            return False, ""
        fmt = lambda s: ", ".join(f"{n}[{a},{b})" for n, a, b in s)  # noqa: E731
        return True, f"stages {fmt(s1)} -> {fmt(s2)}"
    if problem == "moe":
        if "experts" not in p1:
            same = json.dumps(p1, sort_keys=True) == json.dumps(p2, sort_keys=True)
            return (False, "") if same else (True, "plan differs")
        def placement(plan):
            return [[sorted((h["node"], round(h["share"], 3)) for h in e) for e in block]
                    for block in plan["experts"]]
        e1, e2 = placement(p1), placement(p2)
        total = sum(len(b) for b in e1)
        moved = sum(x != y for b1, b2 in zip(e1, e2) for x, y in zip(b1, b2))
        if moved == 0:
            return False, ""
        return True, f"{moved} of {total} experts placed differently"
    if problem == "alloc":
        u1, u2 = p1["users"], p2["users"]
        diffs = []
        for i, (a, b) in enumerate(zip(u1, u2)):
            if (a["server"], a["cut"]) != (b["server"], b["cut"]):
                where = lambda u: "local" if u["server"] is None else f"server {u['server']}"  # noqa: E731
                diffs.append(f"u{i}: {where(a)} cut {a['cut']} -> {where(b)} cut {b['cut']}")
        if not diffs:
            return False, ""
        shown = "; ".join(diffs[:4]) + (f"; ... ({len(diffs)} users)" if len(diffs) > 4 else "")
        return True, f"{len(diffs)} of {len(u1)} users change server or cut: {shown}"
    if problem == "cache":
        c1 = {s["server"]: set(s["models"]) for s in p1["servers"]}
        c2 = {s["server"]: set(s["models"]) for s in p2["servers"]}
        if c1 == c2:
            return False, ""
        swaps = sum(len(c1.get(k, set()) ^ c2.get(k, set())) for k in set(c1) | set(c2))
        return True, f"{swaps} (server, model) placements added or dropped"
    if problem == "collab":
        def choice(u):
            return {k: v for k, v in u.items() if k != "resource_blocks"}
        diffs = [f"u{i}: {choice(a)} -> {choice(b)}"
                 for i, (a, b) in enumerate(zip(p1["users"], p2["users"])) if choice(a) != choice(b)]
        if not diffs:
            return False, ""
        shown = "; ".join(diffs[:3]) + (f"; ... ({len(diffs)} users)" if len(diffs) > 3 else "")
        return True, f"{len(diffs)} of {len(p1['users'])} users change mode or variants: {shown}"
    raise ValueError(problem)


def study(edgeplan, path, problem, timeout):
    """One CSV row for instance `path`."""
    text = path.read_text()
    v2_text, inserted = with_runtimes(text, problem)
    if inserted == 0:
        raise Skip("no table names a device")
    check_v2(text, v2_text, problem, path)
    row = dict(problem=problem, instance=path.stem)
    # The copy sits next to the original so that its relative paths (devices, models_dir,
    # profiles_dir, traces) resolve the same; it is deleted afterwards.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.v2-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(v2_text)
        r1, row["v1_solve_s"] = solve(edgeplan, path, timeout)
        r2, row["v2_solve_s"] = solve(edgeplan, tmp, timeout)
        t1, t2 = r1["stats"]["termination"], r2["stats"]["termination"]
        if r1["plan"] is None or r2["plan"] is None:
            row["status"] = f"v1 {t1}, v2 {t2}"
            row["v1_objective"] = r1["stats"]["objective"]
            row["v2_objective"] = r2["stats"]["objective"]
            return row
        row["status"] = "optimal" if t1 == t2 == "optimal" else f"v1 {t1}, v2 {t2}"
        row["changed"], row["what_changed"] = compare(problem, r1, r2)
        row["v1_objective"] = objective(problem, r1["evaluation"])
        row["v2_objective"] = objective(problem, r2["evaluation"])
        cross = evaluate(edgeplan, tmp, r1)
        row["v1_plan_under_v2"] = objective(problem, cross)
        row["v1_plan_feasible_under_v2"] = not cross.get("violations")
        if cross.get("violations"):
            # A plan that breaks v2's constraints has no regret to speak of (its objective may
            # even look better): it is counted apart.
            row["what_changed"] += f" (the v1 plan violates {len(cross['violations'])} v2 " \
                                   f"constraints)"
            row["regret_pct"] = float("nan")
            return row
        loss = row["v1_plan_under_v2"] - row["v2_objective"]
        if problem in MAXIMISED:
            loss = -loss
        row["regret_pct"] = 100 * loss / abs(row["v2_objective"])
        return row
    finally:
        os.unlink(tmp)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edgeplan", default=os.environ.get("EDGEPLAN_BIN"),
                        help="the edgeplan binary (default: $EDGEPLAN_BIN, else "
                             "target/release/edgeplan)")
    parser.add_argument("--out", type=Path, default=ROOT / "notebooks" / "data" /
                        "cost-model-impact.csv", help="output CSV")
    parser.add_argument("--skip-after", type=float, default=20.0, metavar="S",
                        help="skip instances whose solve takes longer than S seconds (default 20)")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="instances studied at once (default 1; each solve uses one thread)")
    parser.add_argument("--problems", default=",".join(PROBLEMS),
                        help=f"comma-separated subset of {','.join(PROBLEMS)}")
    args = parser.parse_args()
    edgeplan = args.edgeplan or str(ROOT / "target" / "release" / "edgeplan")
    # Bad options exit 2 with the option named (parser.error).
    if not (os.path.isfile(edgeplan) and os.access(edgeplan, os.X_OK)):
        parser.error(f"--edgeplan: no edgeplan binary at {edgeplan}: pass --edgeplan PATH or set "
                     f"EDGEPLAN_BIN")
    problems = [p for p in args.problems.split(",") if p]
    unknown = sorted(set(problems) - set(PROBLEMS))
    if unknown or not problems:
        parser.error(f"--problems: unknown problem(s) {', '.join(unknown) or '(none given)'}; "
                     f"expected some of {', '.join(PROBLEMS)}")
    if args.jobs < 1:
        parser.error("--jobs: expected at least 1")
    if args.skip_after <= 0:
        parser.error("--skip-after: expected a positive number of seconds")

    work, skipped = [], []
    for problem in problems:
        for path in sorted((ROOT / "instances" / problem).glob("*.toml")):
            try:
                doc = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as err:
                skipped.append((problem, path.stem, f"not TOML: {err}"))
                continue
            if doc.get("problem") != problem:
                skipped.append((problem, path.stem, "not an instance of this problem"))
                continue
            work.append((problem, path))

    def one(item):
        problem, path = item
        try:
            row = study(edgeplan, path, problem, args.skip_after)
        except Skip as why:
            print(f"skip {problem}/{path.stem}: {why}", flush=True)
            return None, (problem, path.stem, str(why))
        print(f"{problem}/{path.stem}: {row['status']}, changed={row.get('changed', '')}, "
              f"regret={row.get('regret_pct', float('nan')):.3g}%", flush=True)
        return row, None

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one, work))  # in instance order
    rows = [row for row, _ in results if row is not None]
    skipped += [why for _, why in results if why is not None]

    df = pd.DataFrame(rows, columns=COLUMNS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(f"\nwrote {len(df)} rows to {args.out}")
    solved = df[df["status"] == "optimal"].copy()
    solved["changed"] = solved["changed"].astype(bool)
    print(f"\n{len(solved)} instances solved to optimality under both models "
          f"({len(df) - len(solved)} without a plan under one or both)")
    solved["v1_infeasible"] = solved["v1_plan_feasible_under_v2"].astype(str).str.lower() != "true"
    summary = solved.groupby("problem", sort=False).agg(
        instances=("instance", "size"), changed=("changed", "sum"),
        v1_plan_infeasible=("v1_infeasible", "sum"),
        median_regret_pct=("regret_pct", "median"), max_regret_pct=("regret_pct", "max"))
    print(summary.to_string(float_format=lambda v: f"{v:.3g}"))
    if len(solved):
        print(f"all: the optimal plan changes on {int(solved['changed'].sum())} of {len(solved)} "
              f"instances; the v1 plan breaks a v2 constraint on "
              f"{int(solved['v1_infeasible'].sum())}; regret of planning with v1 where it does "
              f"not: median {solved['regret_pct'].median():.3g}%, "
              f"max {solved['regret_pct'].max():.3g}%")
    for problem, name, why in skipped:
        print(f"skipped {problem}/{name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

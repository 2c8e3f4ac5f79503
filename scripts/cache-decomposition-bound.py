#!/usr/bin/env python3
"""A stronger upper bound for a cache instance: its exported MILP with every server's storage
knapsack convexified as well (Dantzig-Wolfe over server contents), by column generation.

Usage: python3 scripts/cache-decomposition-bound.py MODEL.mps [--rounds N]
where MODEL.mps is written by `edgeplan solve INSTANCE --write-model MODEL.mps` (with a time
limit; the export is written before HiGHS solves) and MODEL.start.sol sits beside it.
Needs `pip install highspy`.

The master is the LP relaxation of the exported model plus, for every server m, a convex
combination of integral contents P (sets of models that fit its storage, shared blocks stored
once): x_mi = sum_{P containing i} mu_mP, sum_P mu_mP = 1. Pricing is the server's own
knapsack MILP (its x and y columns, its storage and holds rows) at the duals of the x_mi rows.
Each round prints the master's value (a lower estimate of the decomposition bound) and the
Lagrangian bound, master + sum_m max(0, best reduced cost of server m): an upper bound on the
hit ratio at every round. This is a study tool, not part of the solver.
"""
import argparse
import collections
import re
import sys
import time

import highspy

import cache_study


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mps")
    ap.add_argument("--rounds", type=int, default=400)
    args = ap.parse_args()
    src, lp, cols_of_row = cache_study.load(args.mps)
    names = list(lp.col_names_)
    rnames = list(lp.row_names_)
    lower, upper = list(lp.row_lower_), list(lp.row_upper_)
    server_of = {}
    for j, nm in enumerate(names):
        m = re.match(r"([xy])\(([^,]*),", nm)
        if m:
            server_of[j] = (m.group(1), m.group(2))
    xs = [j for j, (kind, _) in server_of.items() if kind == "x"]
    servers = sorted({s for _, s in server_of.values()})
    inf = highspy.kHighsInf

    # The master: the whole exported model, relaxed.
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    relaxed = src.getLp()
    relaxed.integrality_ = []
    h.passModel(relaxed)
    conv = {}
    link = {}
    for s in servers:
        conv[s] = h.getNumRow()
        h.addRow(1.0, 1.0, 0, [], [])
    for j in xs:
        link[j] = h.getNumRow()
        h.addRow(0.0, 0.0, 1, [j], [1.0])

    def add_contents(s, members):
        rows = [conv[s]] + [link[j] for j in members]
        h.addCol(0.0, 0.0, inf, len(rows), rows, [1.0] + [-1.0] * len(members))

    # Pricing: each server's knapsack over its own x and y columns.
    pricing = {}
    for s in servers:
        cols = [j for j, (_, t) in server_of.items() if t == s]
        at = {j: k for k, j in enumerate(cols)}
        p = highspy.Highs()
        p.setOptionValue("output_flag", False)
        p.setOptionValue("mip_rel_gap", 1e-9)
        for j in cols:
            p.addVar(0.0, 1.0)
            p.changeColIntegrality(at[j], highspy.HighsVarType.kInteger)
        for r, name in enumerate(rnames):
            m = re.match(r"(storage|holds)\(([^,)]*)", name)
            if m and m.group(2) == s:
                ents = [(at[j], v) for j, v in cols_of_row[r] if j in at]
                p.addRow(lower[r], upper[r], len(ents),
                         [e[0] for e in ents], [e[1] for e in ents])
        p.changeObjectiveSense(highspy.ObjSense.kMaximize)
        pricing[s] = (p, cols, at)

    # First contents: nothing, and the start's.
    start = collections.defaultdict(list)
    for j, v in cache_study.start_values(args.mps, names).items():
        if j in link and v > 0.5:
            start[server_of[j][1]].append(j)
    for s in servers:
        add_contents(s, [])
        if start[s]:
            add_contents(s, start[s])

    best = inf
    began = time.time()
    for round_ in range(args.rounds):
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            sys.exit(f"master: {h.modelStatusToString(h.getModelStatus())}")
        value = h.getInfo().objective_function_value
        dual = h.getSolution().row_dual
        gain = 0.0
        added = 0
        for s in servers:
            p, cols, at = pricing[s]
            for j in cols:
                p.changeColCost(at[j], dual[link[j]] if j in link else 0.0)
            p.run()
            if p.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                sys.exit(f"pricing {s}: {p.modelStatusToString(p.getModelStatus())}")
            reduced = p.getInfo().objective_function_value - dual[conv[s]]
            if reduced > 1e-9:
                gain += reduced
                vals = p.getSolution().col_value
                add_contents(s, [j for j in cols if j in link and vals[at[j]] > 0.5])
                added += 1
        best = cache_study.report_round(round_, began, value, gain, best, added, "contents")
        if added == 0:
            break


if __name__ == "__main__":
    main()

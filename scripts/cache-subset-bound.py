#!/usr/bin/env python3
"""The subset-column bound of a cache instance whose overlap components are too large to
enumerate (20 servers: 2^20 subsets per model), by column generation on its exported MILP.

Usage: python3 scripts/cache-subset-bound.py MODEL.mps [--rounds N]
where MODEL.mps is written by `edgeplan solve INSTANCE --write-model MODEL.mps` (with a time
limit long enough for HiGHS to start; the export is written before it solves) and
MODEL.start.sol sits beside it. Needs `pip install highspy numpy`, and about 8 MB of memory per
model and server bit (2.5 GB for 300 models over 20 servers).

Every model's demand rows (`served_by`) and their `z` columns are replaced by the subset
columns of `Coverage` in src/problems/cache/model.rs: a column lambda_X per subset X of the
model's servers, worth f(X) (the weight of its demands some server of X serves), with
`sum_X lambda_X <= 1` and `sum_{X containing m} lambda_X <= x_m`. The LP over all of them is the
concave closure of each model's coverage. The master starts from the start's subsets and the
single servers; pricing enumerates every subset (f by a zeta transform over the demands' server
masks, once per model) and adds the three of largest reduced cost per model. Each round prints
the master's value (a lower estimate of the subset bound) and the Lagrangian bound, master +
sum over models of the best reduced cost: an upper bound on the hit ratio at every round. This
is a study tool, not part of the solver.
"""
import argparse
import bisect
import collections
import re
import sys
import time

import highspy
import numpy as np

import cache_study


def subset_sums(values):
    """Entry X: the sum of values[b] over the bits b of X (every X below 2^len(values))."""
    out = np.zeros(1 << len(values))
    for b, v in enumerate(values):
        half = out.reshape(-1, 2, 1 << b)
        half[:, 1, :] = half[:, 0, :] + v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mps")
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    src, lp, cols_of_row = cache_study.load(args.mps)
    names = list(lp.col_names_)
    cost = list(lp.col_cost_)
    # Demand rows `z - sum x <= 0`, exported as `sum x - z >= 0`, by model.
    demands = collections.defaultdict(list)
    demand_rows = []
    for r, name in enumerate(lp.row_names_):
        m = re.match(r"served_by\(([^,]*),", name)
        if m:
            z = [j for j, v in cols_of_row[r] if v < 0][0]
            demands[m.group(1)].append(([j for j, v in cols_of_row[r] if v > 0], cost[z], z))
            demand_rows.append(r)
    if not demands:
        sys.exit(f"{args.mps}: no demand rows (every model already has subset columns)")
    z_cols = sorted(z for rows in demands.values() for _, _, z in rows)
    start = cache_study.start_values(args.mps, names)

    # The master: the relaxation without the demand rows and their z.
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    relaxed = src.getLp()
    relaxed.integrality_ = []
    h.passModel(relaxed)
    h.deleteRows(len(demand_rows), np.array(demand_rows, dtype=np.int32))
    h.deleteCols(len(z_cols), np.array(z_cols, dtype=np.int32))
    inf = highspy.kHighsInf
    began = time.time()
    models = []
    for rows in demands.values():
        bits = sorted({j for xs, _, _ in rows for j in xs})
        at = {j: b for b, j in enumerate(bits)}
        # g(Y): weight of the demands inside Y; f(X) = total - g(complement of X).
        g = np.zeros(1 << len(bits))
        for xs, w, _ in rows:
            g[sum(1 << at[j] for j in xs)] += w
        for b in range(len(bits)):
            half = g.reshape(-1, 2, 1 << b)
            half[:, 1, :] += half[:, 0, :]
        f = g[-1] - g[((1 << len(bits)) - 1) ^ np.arange(1 << len(bits))]
        conv = h.getNumRow()
        h.addRow(-inf, 1.0, 0, [], [])
        link = []
        for j in bits:
            link.append(h.getNumRow())
            # Column indices shift down past the deleted z columns.
            h.addRow(-inf, 0.0, 1, [j - bisect.bisect_left(z_cols, j)], [-1.0])
        models.append((bits, f, conv, link))

    def add_subset(model, mask):
        bits, f, conv, link = model
        rows = [conv] + [link[b] for b in range(len(bits)) if mask >> b & 1]
        h.addCol(float(f[mask]), 0.0, inf, len(rows), rows, [1.0] * len(rows))

    for model in models:
        bits = model[0]
        mask = sum(1 << b for b, j in enumerate(bits) if start.get(j, 0.0) > 0.5)
        if mask:
            add_subset(model, mask)
        for b in range(len(bits)):
            if not mask >> b & 1:
                add_subset(model, 1 << b)
    print(f"{len(models)} models, {len(demand_rows)} demand rows, "
          f"tables in {time.time() - began:.1f} s", flush=True)

    best = inf
    for round_ in range(args.rounds):
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            sys.exit(f"master: {h.modelStatusToString(h.getModelStatus())}")
        master = h.getInfo().objective_function_value
        dual = list(h.getSolution().row_dual)
        gain = 0.0
        added = 0
        for model in models:
            bits, f, conv, link = model
            reduced = f - subset_sums([dual[r] for r in link]) - dual[conv]
            top = np.argpartition(reduced, -3)[-3:]
            top = top[np.argsort(reduced[top])]
            if reduced[top[-1]] > 1e-9:
                gain += reduced[top[-1]]
                for mask in top:
                    if reduced[mask] > 1e-9:
                        add_subset(model, int(mask))
                        added += 1
        best = cache_study.report_round(round_, began, master, gain, best, added, "subsets")
        if added == 0:
            break


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Minimal reproducer of a HiGHS MIP-start defect (HiGHS 1.16.0, the version highs-sys 1.16.0
builds for edgeplan and highspy 1.16.0 ships): with a feasible MIP start that sets a column
presolve removes, the MIP solver reports "Optimal" with an objective that leaves that column's
cost out (here 0.0, below the true optimum 0.147776) and returns the start's values as its
solution (objective 0.715681). Without the start, or with presolve off, the answer is right.

Usage: python3 scripts/highs-mip-start-defect.py     (needs `pip install highspy numpy`)
Exit status 1 while the defect is present, 0 once every case is consistent. The draft upstream
report is docs/upstream-highs.md; edgeplan's workaround is described there.

The model: four binaries, minimise c.x subject to
    0.90075 x0 + x1 + 0.90075 x2 + x3 >= 1
                              x2 + x3 <= 1
with c = (0.07126, 0.71568, 0.07652, 0.21519). It is the smallest model left when columns and
rows of a green-scheduling MILP that showed the defect (a tiny random instance of
tests/green_oracle.rs started from the ASAP schedule) were removed one at a time while the defect
persisted.
"""
import sys

import highspy
import numpy as np

COST = [0.07126005187860306, 0.7156811059750718, 0.0765159983377351, 0.21518708916611148]
A = 0.9007503970003755
OPTIMUM = COST[0] + COST[2]  # x0 = x2 = 1, by enumeration of the 16 points below


def solve(start=None, presolve="choose", partial=False):
    """(status, reported objective, objective of the returned x, returned x)."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", presolve)
    n = len(COST)
    for _ in range(n):
        h.addVar(0.0, 1.0)
    every = np.arange(n, dtype=np.int32)
    h.changeColsIntegrality(n, every, np.ones(n, dtype=np.uint8))
    h.changeColsCost(n, every, np.array(COST))
    h.addRow(1.0, highspy.kHighsInf, 4, every, np.array([A, 1.0, A, 1.0]))
    h.addRow(-highspy.kHighsInf, 1.0, 2, np.array([2, 3], dtype=np.int32), np.array([1.0, 1.0]))
    if start is not None:
        if partial:
            on = [j for j in range(n) if start[j]]
            h.setSolution(len(on), np.array(on, dtype=np.int32), np.ones(len(on)))
        else:
            h.setSolution(n, every, np.array(start, dtype=float))
    h.run()
    x = np.array(h.getSolution().col_value)
    return (h.modelStatusToString(h.getModelStatus()), h.getInfo().objective_function_value,
            float(np.array(COST) @ x), [round(float(v), 6) + 0.0 for v in x])


def feasible(x):
    return A * x[0] + x[1] + A * x[2] + x[3] >= 1 - 1e-9 and x[2] + x[3] <= 1 + 1e-9


def main():
    points = [[(k >> j) & 1 for j in range(4)] for k in range(16)]
    best = min(float(np.dot(COST, p)) for p in points if feasible(p))
    assert abs(best - OPTIMUM) < 1e-15
    version = getattr(highspy.Highs(), "version", lambda: "?")()
    print(f"HiGHS {version}; optimum {OPTIMUM:.6f} (x0 = x2 = 1, by enumeration)")
    cases = [
        ("no start", None, "choose", False),
        ("start x1 = 1 (feasible, objective 0.715681)", [0, 1, 0, 0], "choose", False),
        ("the same start, partial (only x1 given)", [0, 1, 0, 0], "choose", True),
        ("start x0 = x1 = 1 (feasible, 0.786941)", [1, 1, 0, 0], "choose", False),
        ("start x1 = 1, presolve off", [0, 1, 0, 0], "off", False),
        ("start x3 = 1 (feasible, 0.215187)", [0, 0, 0, 1], "choose", False),
    ]
    defect = False
    for name, start, presolve, partial in cases:
        status, reported, returned, x = solve(start, presolve, partial)
        consistent = (status == "Optimal" and abs(reported - returned) <= 1e-9
                      and abs(reported - OPTIMUM) <= 1e-9)
        defect |= not consistent
        print(f"{name:46s} {status:8s} reported {reported:.6f}  returned x {x} "
              f"worth {returned:.6f}  {'ok' if consistent else 'WRONG'}")
    sys.exit(1 if defect else 0)


if __name__ == "__main__":
    main()

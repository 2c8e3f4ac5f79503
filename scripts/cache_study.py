"""What the cache study scripts in this folder share: reading a MILP exported by `edgeplan solve
INSTANCE --write-model MODEL.mps` (and the MODEL.start.sol beside it), and the report of a column
generation round. Needs `pip install highspy`."""
import collections
import sys
import time

import highspy


def load(path):
    """The model as a quiet HiGHS instance, its LP, and every row's (column, coefficient) list."""
    src = highspy.Highs()
    src.setOptionValue("output_flag", False)
    if src.readModel(path) != highspy.HighsStatus.kOk:
        sys.exit(f"{path}: not a readable MPS file")
    lp = src.getLp()
    a = lp.a_matrix_
    # Copied once: every access to a highspy array attribute copies the whole array.
    starts, index_, value = list(a.start_), list(a.index_), list(a.value_)
    cols_of_row = collections.defaultdict(list)
    for j in range(lp.num_col_):
        for p in range(starts[j], starts[j + 1]):
            cols_of_row[index_[p]].append((j, value[p]))
    return src, lp, cols_of_row


def start_values(path, names):
    """The start's value of every column (by index into `names`), from the .start.sol beside
    `path`; empty when there is none."""
    index = {nm: j for j, nm in enumerate(names)}
    values = {}
    try:
        lines = open(path.removesuffix(".mps") + ".start.sol").read().split("\n")[1:]
    except OSError:
        return values
    for line in lines:
        f = line.split()
        if len(f) == 3 and f[1] in index:
            values[index[f[1]]] = float(f[2])
    return values


def report_round(round_, began, master, gain, best, added, what):
    """Prints a column generation round: the master's value, the Lagrangian bound `master +
    gain`, the best bound so far and how many columns (`what`) it added; returns the best
    bound."""
    best = min(best, master + gain)
    print(f"round {round_:4d}  {time.time() - began:7.1f} s  master {master:.6f}  "
          f"bound {master + gain:.6f}  best bound {best:.6f}  new {what} {added}", flush=True)
    return best

#!/usr/bin/env python3
"""Writes docs/cost-validation.md from `edgeplan costs --validate -o ROWS.csv`.

Usage: edgeplan costs --validate -o /tmp/rows.csv > /tmp/summary.txt
       python3 scripts/cost-validation-table.py /tmp/rows.csv /tmp/summary.txt > docs/cost-validation.md
"""
import csv
import sys


def pct(x):
    return f"{100 * float(x):+.1f}%"


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    summary = [l for l in open(sys.argv[2]).read().splitlines()]
    start = next(i for i, l in enumerate(summary) if l.startswith("median |error|"))
    print("# Cost model validation: every measurement, v1 and v2, in sample and held out\n")
    print("Generated from `edgeplan costs --validate` on `instances/measurements.csv` with")
    print("`instances/devices.csv`, `units.csv` and the priors of `src/costs/fit.rs`; regenerate with")
    print("```sh")
    print("edgeplan costs --validate -o /tmp/rows.csv > /tmp/summary.txt")
    print("python3 scripts/cost-validation-table.py /tmp/rows.csv /tmp/summary.txt > docs/cost-validation.md")
    print("```")
    print("Errors are `predicted / measured - 1` in tokens per second. **v1**: the device rows of")
    print("`devices.csv` alone (one efficiency pair per device, no runtime, no overheads). **v2 in")
    print("sample**: the runtime table fitted to all rows. **v2 held out**: the table refitted without")
    print("the row's source (every row of the same published document left out), the figure to")
    print("judge the model by. See [costs.md](costs.md#runtimes-cost-model-v2).\n")
    print("## Medians of |error|\n")
    print("| rows of | count | v1 | v2 in sample | v2 held out |")
    print("|---|---|---|---|---|")
    for l in summary[start + 1:]:
        parts = l.split()
        if len(parts) < 5 or not parts[-1].endswith("%"):
            continue
        label = " ".join(parts[:-4])
        print(f"| {label} | {parts[-4]} | {parts[-3]} | {parts[-2]} | {parts[-1]} |")
    print("\n## Every row\n")
    print("| line | model | dtype | device | unit | runtime | phase | context | tokens | measured tok/s | v1 | v2 | v2 held out | source |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        src = r["source"]
        print(
            f"| {r['line']} | {r['model']} | {r['dtype']} | {r['device']} | {r['unit']} | {r['runtime']} | "
            f"{r['phase']} | {r['context']} | {r['tokens']} | {float(r['measured_tokens_per_s']):g} | "
            f"{pct(r['v1_error'])} | {pct(r['v2_error'])} | {pct(r['v2_held_out_error'])} | <{src}> |"
        )


if __name__ == "__main__":
    main()

"""Writes mixtral-routing-synthetic.csv: a SYNTHETIC routing trace in the measured-trace format
(token,layer,experts) for Mixtral-8x7B's 32 blocks x 8 experts, top-2. Not a measurement.

Per block, expert weights are drawn from Dirichlet(0.6) (skewed); each token keeps each of the
previous token's experts in that block with probability 0.45 (temporal locality, which an LRU
cache can exploit and a static cache cannot), the rest drawn by weight without replacement.
Run: python3 instances/traces/mixtral-routing-synthetic.py (seed 2026, 400 tokens).
"""
import random

random.seed(2026)
L, E, K, T = 32, 8, 2, 400
w = [[random.gammavariate(0.6, 1) for _ in range(E)] for _ in range(L)]
rows = ["token,layer,experts"]
prev = [None] * L
for t in range(T):
    for l in range(L):
        chosen = []
        if prev[l]:
            for e in prev[l]:
                if random.random() < 0.45:
                    chosen.append(e)
        while len(chosen) < K:
            pool = [e for e in range(E) if e not in chosen]
            tot = sum(w[l][e] for e in pool)
            r = random.random() * tot
            for e in pool:
                r -= w[l][e]
                if r <= 0:
                    chosen.append(e)
                    break
            else:
                chosen.append(pool[-1])
        prev[l] = chosen
        rows.append(f"{t},{l},{' '.join(map(str, chosen))}")
with open(__file__.replace(".py", ".csv"), "w") as f:
    f.write("\n".join(rows) + "\n")

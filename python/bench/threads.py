"""Solves in Python threads run at once (the GIL is released during a solve): four exact solves
of a shipped green instance, serially and on two threads, three times.

    python3 python/bench/threads.py     # from the repository root, after pip install ./python
"""

import concurrent.futures
import time

import edgeplan

problem = edgeplan.load("instances/green/green-30j-4s-48t.toml")


def one(_):
    return edgeplan.solve(problem, solver="highs").objective


for _ in range(3):
    start = time.perf_counter()
    serial = [one(i) for i in range(4)]
    serial_s = time.perf_counter() - start
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        threaded = list(pool.map(one, range(4)))
    threaded_s = time.perf_counter() - start
    print(
        f"serial {serial_s:.2f} s, 2 threads {threaded_s:.2f} s, "
        f"speed-up {serial_s / threaded_s:.2f}, same objectives {serial == threaded}"
    )

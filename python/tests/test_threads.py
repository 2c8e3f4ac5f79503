"""Solves release the GIL: Python threads keep running during a solve, and solves in several
threads give the results of serial solves."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import edgeplan
from conftest import without_times

#: An exact solve of about a second here.
LONG = "instances/cache/cache-4s-20m-50u.toml"


class Counter(threading.Thread):
    """A Python thread that counts as fast as it can until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.count = 0
        self.stop = False

    def run(self):
        while not self.stop:
            self.count += 1


def test_a_python_thread_runs_during_a_solve():
    problem = edgeplan.load(LONG)
    counter = Counter()
    counter.start()
    try:
        # The counting rate with the GIL free ...
        start, before = time.perf_counter(), counter.count
        time.sleep(0.3)
        free_rate = (counter.count - before) / (time.perf_counter() - start)
        # ... and during a solve. A solve that held the GIL would let the counter run only in
        # the interpreter's switch interval (5 ms) before it: well under 10% of the free rate.
        start, before = time.perf_counter(), counter.count
        result = edgeplan.solve(problem)
        seconds = time.perf_counter() - start
        solve_rate = (counter.count - before) / seconds
    finally:
        counter.stop = True
        counter.join()
    assert result.status == "optimal"
    assert seconds > 0.2, f"the solve took {seconds:.3f} s: too short to tell"
    assert solve_rate > 0.1 * free_rate, (
        f"the counter ran at {solve_rate:.3g}/s during the solve, {free_rate:.3g}/s without one"
    )


def test_threads_solve_at_once_with_the_serial_results():
    jobs = [
        ("instances/cache/cache-4s-20m-50u.toml", "highs"),
        ("instances/alloc/alloc-10-users.toml", "highs"),
        ("instances/green/green-day.toml", "highs"),
        ("instances/moe/mixtral-jetson-cache-energy.toml", "highs"),
        ("instances/collab/collab-100-users.toml", "highs"),
        ("instances/green/green-30j-4s-48t.toml", "greedy"),
    ]
    problems = [edgeplan.load(path) for path, _ in jobs]
    serial = [edgeplan.solve(p, solver=s).to_dict() for p, (_, s) in zip(problems, jobs)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(edgeplan.solve, p, s) for p, (_, s) in zip(problems, jobs)]
        threaded = [f.result().to_dict() for f in futures]
    assert [without_times(r) for r in threaded] == [without_times(r) for r in serial]

    # One problem object solved by several threads at once.
    with ThreadPoolExecutor(max_workers=3) as pool:
        same = list(pool.map(lambda _: edgeplan.solve(problems[0]).to_dict(), range(3)))
    assert all(without_times(r) == without_times(serial[0]) for r in same)

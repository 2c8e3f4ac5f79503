"""Every shipped instance solved through the module gives the report `edgeplan solve --json`
prints (wall-clock times aside), and the same exit-code class: a feasible plan returns, no
feasible plan raises InfeasibleError carrying that report (the CLI exits 1)."""

import json

import pytest

import edgeplan
from conftest import shipped_instances, without_times

#: Instances whose exact solve takes more than about a second here, solved instead with a
#: fast deterministic heuristic of their problem. Every other instance, at least one per
#: problem, is solved exactly with HiGHS (checked by test_every_problem_has_an_exact_solve).
FAST_PRESET = {
    "alloc-20-users-2-servers": "local-search",
    "alloc-20-users": "local-search",
    "alloc-200-users": "local-search",
    "alloc-50-users": "local-search",
    "cache-10s-100m-500u": "greedy",
    "cache-20s-300m-1000u": "popularity",
    "cache-4s-20m-50u": "greedy",
    "green-100j-10s-96t": "greedy",
    "green-30j-4s-48t": "greedy",
    "mixtral-campus-8n-throughput": "greedy",
    "mixtral-campus-8n": "greedy",
    "mixtral-jetson-cache": "greedy",
    "mixtral-jetson-cache-trace": "greedy",
    "olmoe-campus-6n": "greedy",
    "qwen-moe-phone-cache": "greedy",
    "campus-8n-llama2-7b-throughput": "local-search",
}

INSTANCES = shipped_instances()


def preset_of(path):
    return FAST_PRESET.get(path.stem, "highs")


def test_every_problem_has_an_exact_solve():
    problems = {kind for kind, _ in INSTANCES}
    assert problems == set(edgeplan.problems())
    exact = {kind for kind, path in INSTANCES if preset_of(path) == "highs"}
    assert exact == problems, f"no exact solve of {problems - exact}"


@pytest.mark.parametrize("kind,path", INSTANCES, ids=[p.stem for _, p in INSTANCES])
def test_solve_equals_the_cli(cli, kind, path):
    preset = preset_of(path)
    proc = cli("solve", path, "--solver", preset, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    expected = json.loads(proc.stdout)

    problem = edgeplan.load(path)
    assert (problem.kind, problem.name) == (kind, expected["instance"])
    if proc.returncode == 0:
        result = edgeplan.solve(problem, solver=preset)
    else:
        with pytest.raises(edgeplan.InfeasibleError) as raised:
            edgeplan.solve(problem, solver=preset)
        result = raised.value.result
        assert isinstance(result, edgeplan.Result)
        assert str(raised.value).startswith(f"instance `{problem.name}`: no feasible plan")
    report = result.to_dict()
    assert without_times(report) == without_times(expected)

    # The attributes are the report's members, as plain Python values.
    stats = expected["stats"]
    assert result.status == stats["termination"]
    assert result.primal_status == stats["primal_status"]
    assert result.objective == stats["objective"]
    assert result.bound == stats["bound"]
    assert result.gap == stats["gap"]
    assert result.plan == expected["plan"]
    assert result.evaluation == expected["evaluation"]
    assert result.feasible == (proc.returncode == 0)
    assert result.plan is None or isinstance(result.plan, dict)

    if result.plan is not None:
        # The plan evaluates to the report's evaluation, through the module and the CLI alike.
        evaluation = edgeplan.evaluate(problem, result.plan, check=False)
        assert evaluation.to_dict() == expected["evaluation"]
        assert evaluation.feasible == result.feasible
        assert result.violations == evaluation.violations
        assert set(result.metrics) == set(problem.metric_names)

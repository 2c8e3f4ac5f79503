"""generate, costs, sweep and summarize against the command line's generate, costs, sweep and
summarize."""

import io
import json

import pandas as pd
import pytest

import edgeplan
from conftest import ROOT, cli_error, without_times

#: A preset per problem that solves its default generated instance in well under a second.
PRESET = {"alloc": "highs", "cache": "greedy", "green": "highs", "pipeline": "highs",
          "moe": "greedy", "collab": "highs"}

TIME_COLUMNS = ["generate_s", "build_s", "solve_s"]


@pytest.mark.parametrize("kind", sorted(PRESET))
def test_generate_equals_the_cli(cli, tmp_path, kind):
    """`generate(kind, seed=3)` is the instance `edgeplan generate KIND --seed 3` writes: both
    solve to the same report."""
    file = tmp_path / f"{kind}.toml"
    proc = cli("generate", kind, "--seed", 3, "-o", file)
    assert proc.returncode == 0, proc.stderr
    expected = json.loads(cli("solve", file, "--solver", PRESET[kind], "--json").stdout)
    problem = edgeplan.generate(kind, seed=3)
    assert (problem.kind, problem.name, problem.source) == (kind, expected["instance"], None)
    result = edgeplan.solve(problem, solver=PRESET[kind], check=False)
    assert without_times(result.to_dict()) == without_times(expected)
    # Another seed is another instance.
    other = edgeplan.solve(edgeplan.generate(kind, seed=4), solver=PRESET[kind], check=False)
    assert without_times(other.to_dict()) != without_times(expected)


def test_generate_parameters_and_data_dir(cli, tmp_path):
    file = tmp_path / "green.toml"
    cli("generate", "green", "--jobs", 4, "--slots", 8, "--seed", 1, "--deadline-slack", 1.5,
        "-o", file)
    expected = json.loads(cli("solve", file, "--json").stdout)
    problem = edgeplan.generate("green", data_dir=ROOT / "instances", jobs=4, slots=8, seed=1,
                                deadline_slack=1.5)
    assert problem.name == "green-4j-2s-8t"
    assert without_times(edgeplan.solve(problem).to_dict()) == without_times(expected)
    # numpy values, as a loop over a DataFrame gives them, are plain numbers.
    import numpy as np

    problem = edgeplan.generate("green", data_dir=ROOT / "instances", jobs=np.int64(4),
                                slots=np.array(8), seed=1, deadline_slack=np.float64(1.5))
    assert without_times(edgeplan.solve(problem).to_dict()) == without_times(expected)


@pytest.mark.parametrize("model,dtype", [("llama-2-7b", "q4"), ("gpt2", "fp16"),
                                         ("mixtral-8x7b", "int8")])
def test_costs_equal_the_cli(cli, model, dtype):
    proc = cli("costs", model, "--dtype", dtype)
    assert proc.returncode == 0, proc.stderr
    expected = pd.read_csv(io.StringIO(proc.stdout), comment="#")
    table = edgeplan.costs(model, dtype)
    pd.testing.assert_frame_equal(table, expected)
    assert len(table) > 2 and "layer" in table.columns


def test_costs_errors(cli):
    proc = cli("costs", "no-such-model")
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.costs("no-such-model")
    assert str(raised.value) == cli_error(proc)
    with pytest.raises(edgeplan.BadInputError, match=r"option `dtype`: expected fp32"):
        edgeplan.costs("gpt2", "fp8")


@pytest.fixture
def green_sweep(tmp_path):
    """A small generator sweep: 2 slack factors x 3 seeds x 2 solvers = 12 runs."""
    path = tmp_path / "tiny-green.toml"
    path.write_text(
        'name = "tiny-green"\ngenerate = "green"\n'
        f'data = "{ROOT / "instances"}"\nseeds = 3\nsolvers = ["greedy", "asap"]\n'
        "[fixed]\njobs = 4\nslots = 8\n[grid]\ndeadline_slack = [0.5, 1.5]\n")
    return path


def cli_runs(cli, sweep, out):
    proc = cli("sweep", sweep, "-o", out, "--quiet", "-j", 1)
    assert proc.returncode == 0, proc.stderr
    return pd.read_csv(out).sort_values("run").reset_index(drop=True)


def same_runs(a, b):
    pd.testing.assert_frame_equal(a.drop(columns=TIME_COLUMNS), b.drop(columns=TIME_COLUMNS))


@pytest.mark.parametrize("sweep", ["green", "instances/sweeps/split-uplink.toml"])
def test_sweep_equals_the_cli(cli, tmp_path, green_sweep, sweep):
    sweep = green_sweep if sweep == "green" else ROOT / sweep
    expected = cli_runs(cli, sweep, tmp_path / "cli.csv")
    runs = edgeplan.sweep(sweep, jobs=2)
    same_runs(runs, expected)
    assert len(runs) == len(expected) > 10


def test_sweep_to_a_file_resumes(cli, tmp_path, green_sweep):
    out = tmp_path / "runs.csv"
    partial = edgeplan.sweep(green_sweep, jobs=1, out=out, max_runs=5)
    assert len(partial) == 5
    # The file exists: the CLI's error without resume or force ...
    proc = cli("sweep", green_sweep, "-o", out, "--quiet")
    assert proc.returncode == 2
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.sweep(green_sweep, out=out)
    assert str(raised.value) == cli_error(proc)
    # ... and resume runs the rest.
    runs = edgeplan.sweep(green_sweep, jobs=1, out=out, resume=True)
    same_runs(runs, cli_runs(cli, green_sweep, tmp_path / "cli.csv"))
    with pytest.raises(edgeplan.BadInputError, match="option `shard`"):
        edgeplan.sweep(green_sweep, shard="3/2")


def test_summarize_equals_the_cli(cli, tmp_path, green_sweep):
    csv = tmp_path / "runs.csv"
    runs = cli_runs(cli, green_sweep, csv)
    args = ["--by", "deadline_slack,solver", "--metric", "objective,carbon_g"]
    expected = json.loads(cli("summarize", csv, *args, "--json").stdout)
    table = edgeplan.summarize(csv, by=["deadline_slack", "solver"],
                               metric="objective,carbon_g")
    assert list(table.columns) == ["deadline_slack", "solver", "metric", "count", "missing",
                                   "mean", "std", "ci_low", "ci_high", "min", "max"]
    assert len(table) == len(expected) == 2 * 2 * 2
    for (_, row), group in zip(table.iterrows(), expected):
        assert [str(row["deadline_slack"]), row["solver"]] == group["key"]
        for column in ["metric", "count", "missing", "mean", "std", "ci_low", "ci_high", "min",
                       "max"]:
            value = group[column]
            assert row[column] == value or (value is None and pd.isna(row[column])), column

    # A DataFrame of runs (as sweep returns) summarises like its file.
    pd.testing.assert_frame_equal(
        edgeplan.summarize(runs, by="deadline_slack,solver", metric=["objective", "carbon_g"]),
        table)

    # Filters, and merging shards.
    greedy = edgeplan.summarize(csv, by="deadline_slack", where={"solver": "greedy"})
    expected = json.loads(cli("summarize", csv, "--by", "deadline_slack", "--where",
                              "solver=greedy", "--json").stdout)
    assert list(greedy["mean"]) == [g["mean"] for g in expected]
    shards = [tmp_path / "a.csv", tmp_path / "b.csv"]
    runs.iloc[:5].to_csv(shards[0], index=False)
    runs.iloc[5:].to_csv(shards[1], index=False)
    merged = tmp_path / "merged.csv"
    by_shards = edgeplan.summarize(shards, by=["deadline_slack", "solver"],
                                   metric="objective,carbon_g", merged=merged)
    pd.testing.assert_frame_equal(by_shards, table)
    pd.testing.assert_frame_equal(pd.read_csv(merged), runs)


def test_summarize_errors(cli, tmp_path, green_sweep):
    csv = tmp_path / "runs.csv"
    cli_runs(cli, green_sweep, csv)
    proc = cli("summarize", csv, "--by", "no_such_column")
    assert proc.returncode == 2
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.summarize(csv, by="no_such_column")
    assert str(raised.value) == cli_error(proc)
    proc = cli("summarize", csv, "--level", 1.5)
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.summarize(csv, level=1.5)
    assert str(raised.value) == cli_error(proc)
    with pytest.raises(edgeplan.BadInputError, match="COLUMN=VALUE"):
        edgeplan.summarize(csv, where=["solver"])

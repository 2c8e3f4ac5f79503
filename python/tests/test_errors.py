"""Errors: the exception class follows the CLI's exit code (2: BadInputError, 1:
InfeasibleError, 3: SolverError; all EdgeplanError) and the message is the CLI's, word for
word."""

import json

import pytest

import edgeplan
from conftest import ROOT, cli_error, without_times

JETSON = "instances/split/llama2-7b-jetson.toml"
ROOT_INSTANCES = ROOT / "instances"


def bad_copy(tmp_path, source, old, new):
    """A copy of a shipped instance in tmp_path with `old` replaced by `new`, its catalog
    pointed back at instances/."""
    text = (ROOT / source).read_text()
    assert old in text
    catalog = (f'models_dir = "{ROOT_INSTANCES / "models"}"\n'
               f'devices = "{ROOT_INSTANCES / "devices.csv"}"\n')
    text = text.replace('problem = "split"\n', 'problem = "split"\n' + catalog, 1)
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_the_exception_classes():
    assert issubclass(edgeplan.BadInputError, edgeplan.EdgeplanError)
    assert issubclass(edgeplan.InfeasibleError, edgeplan.EdgeplanError)
    assert issubclass(edgeplan.SolverError, edgeplan.EdgeplanError)
    assert issubclass(edgeplan.EdgeplanError, Exception)
    exit_codes = [edgeplan.InfeasibleError.exit_code, edgeplan.BadInputError.exit_code,
                  edgeplan.SolverError.exit_code]
    assert exit_codes == [1, 2, 3]


def test_a_missing_file(cli):
    proc = cli("solve", "instances/split/no-such-instance.toml")
    assert proc.returncode == 2
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.load("instances/split/no-such-instance.toml")
    assert str(raised.value) == cli_error(proc)


def test_a_bad_field(cli, tmp_path):
    path = bad_copy(tmp_path, JETSON, "uplink_bps = 50e6", "uplink_bps = -50e6")
    proc = cli("solve", path)
    assert proc.returncode == 2
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.load(path)
    message = str(raised.value)
    assert message == cli_error(proc)
    assert "field `links.wireless.uplink_bps`" in message and str(path) in message


def test_bad_toml(cli, tmp_path):
    path = bad_copy(tmp_path, JETSON, "[workload]", "[workload")
    proc = cli("solve", path)
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.load(path)
    assert str(raised.value) == cli_error(proc)


def test_from_dict_equals_load():
    tomllib = pytest.importorskip("tomllib")
    document = tomllib.loads((ROOT / JETSON).read_text())
    problem = edgeplan.from_dict(document, base_dir="instances/split")
    assert (problem.kind, problem.name) == ("split", "llama2-7b-jetson")
    from_file = edgeplan.solve(edgeplan.load(JETSON)).to_dict()
    assert without_times(edgeplan.solve(problem).to_dict()) == without_times(from_file)

    # A bad field names the document and the field, like a file's.
    document["links"]["wireless"]["uplink_bps"] = -1
    with pytest.raises(edgeplan.BadInputError, match=r"<dict>: field `links.wireless.uplink_bps`"):
        edgeplan.from_dict(document, base_dir="instances/split")
    with pytest.raises(edgeplan.BadInputError, match=r"field `problem`: unknown problem"):
        edgeplan.from_dict({**document, "problem": "nope"})
    with pytest.raises(edgeplan.BadInputError, match=r"field `problem`: missing"):
        edgeplan.from_dict({"name": "x"})
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.from_dict({"problem": "split", "name": 5})
    assert str(raised.value).startswith("./<dict>: invalid type: integer `5`, expected a string")
    with pytest.raises(edgeplan.BadInputError, match=r"option `document`"):
        edgeplan.from_dict({"problem": "split", "x": float("nan")})


# An unknown preset, and one the problem does not have.
@pytest.mark.parametrize("solver", ["no-such-preset", "asap"])
def test_a_bad_solver(cli, solver):
    proc = cli("solve", JETSON, "--solver", solver)
    assert proc.returncode == 2
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.solve(edgeplan.load(JETSON), solver=solver)
    assert str(raised.value) == cli_error(proc)


def test_a_preset_file(cli, tmp_path):
    preset = tmp_path / "quick.toml"
    preset.write_text('name = "quick"\nsolver = "highs"\nmip_rel_gap = 0.05\n')
    proc = cli("solve", JETSON, "--solver", preset, "--json")
    result = edgeplan.solve(edgeplan.load(JETSON), solver=str(preset))
    assert result.solver == "quick"
    assert without_times(result.to_dict()) == without_times(json.loads(proc.stdout))
    preset.write_text('name = "quick"\nsolver = "highs"\nmip_rel_gap = 2\n')
    proc = cli("solve", JETSON, "--solver", preset)
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.solve(edgeplan.load(JETSON), solver=str(preset))
    assert str(raised.value) == cli_error(proc)


@pytest.mark.parametrize("flag,keyword,value", [("--time-limit", "time_limit", -1),
                                                 ("--gap", "gap", 7)])
def test_out_of_range_overrides(cli, flag, keyword, value):
    proc = cli("solve", JETSON, flag, value)
    assert proc.returncode == 2
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.solve(edgeplan.load(JETSON), **{keyword: value})
    assert str(raised.value) == cli_error(proc)


def test_overrides_reach_the_solver(cli):
    """--time-limit and --gap as keywords: the same report as the CLI's."""
    path = "instances/alloc/alloc-20-users.toml"
    proc = cli("solve", path, "--gap", "0.5", "--json")
    result = edgeplan.solve(edgeplan.load(path), gap=0.5)
    assert without_times(result.to_dict()) == without_times(json.loads(proc.stdout))
    result = edgeplan.solve(edgeplan.load(path), time_limit=0.2, check=False)
    assert result.status in ("limit_reached", "optimal")
    assert result.to_dict()["stats"]["solve_s"] < 2.0


def test_infeasible_instance(cli):
    path = "instances/split/llama2-13b-phone-infeasible.toml"
    proc = cli("solve", path, "--json")
    assert proc.returncode == 1
    problem = edgeplan.load(path)
    with pytest.raises(edgeplan.InfeasibleError) as raised:
        edgeplan.solve(problem)
    report = json.loads(proc.stdout)
    assert without_times(raised.value.result.to_dict()) == without_times(report)
    # The message says why, in the report's own words.
    assert report["explanation"][0] in str(raised.value)
    # check=False returns the result instead.
    result = edgeplan.solve(problem, check=False)
    assert (result.status, result.primal_status, result.plan) == ("infeasible", "no_plan", None)


def test_plans_that_violate_or_do_not_fit(cli, tmp_path):
    path = "instances/split/llama2-7b-phone-memory-bound.toml"
    problem = edgeplan.load(path)
    # All on the device: a plan of the right shape that breaks the phone's memory.
    layers = len(edgeplan.solve(problem).plan["assignment"])
    plan = {"assignment": ["device"] * layers}
    with pytest.raises(edgeplan.InfeasibleError, match="violates") as raised:
        edgeplan.evaluate(problem, plan)
    evaluation = raised.value.result
    assert evaluation.violations > 0 and not evaluation.feasible
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(plan))
    proc = cli("evaluate", path, file, "--json")
    assert proc.returncode == 1
    assert evaluation.to_dict() == json.loads(proc.stdout)
    assert edgeplan.evaluate(problem, plan, check=False).to_dict() == json.loads(proc.stdout)

    # A truncated plan is bad input, with the CLI's message but for the file's name.
    short = {"assignment": ["device"] * (layers - 1)}
    file.write_text(json.dumps(short))
    proc = cli("evaluate", path, file)
    assert proc.returncode == 2
    with pytest.raises(edgeplan.BadInputError) as raised:
        edgeplan.evaluate(problem, short)
    assert str(raised.value) == cli_error(proc).replace(str(file), "<plan>")


def test_evaluate_takes_a_result_or_a_report():
    problem = edgeplan.load(JETSON)
    result = edgeplan.solve(problem)
    by_result = edgeplan.evaluate(problem, result).to_dict()
    assert by_result == edgeplan.evaluate(problem, result.to_dict()).to_dict()
    assert by_result == result.evaluation


def test_generator_errors():
    with pytest.raises(edgeplan.BadInputError, match=r"option `kind`: unknown problem \"nope\""):
        edgeplan.generate("nope")
    with pytest.raises(edgeplan.BadInputError, match="generator parameters"):
        edgeplan.generate("green", no_such_parameter=1)
    with pytest.raises(edgeplan.BadInputError, match="option `data_dir`"):
        edgeplan.generate("green", data_dir="no/such/dir")

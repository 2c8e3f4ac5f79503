"""The type stubs describe the native module as it is: the same public functions, classes and
class members (a renamed or added binding without its stub fails here)."""

import ast
import inspect
from pathlib import Path

import edgeplan
from edgeplan import _edgeplan

STUB = Path(__file__).resolve().parents[1] / "edgeplan" / "_edgeplan.pyi"


def stub_names():
    """{name: set of member names (classes) or None (functions, variables)} of the stub."""
    names = {}
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)} | {
                n.target.id for n in node.body
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = None
    return {k: v for k, v in names.items() if not k.startswith("_") or k == "__version__"}


def test_the_stub_lists_every_public_name():
    runtime = {n for n in dir(_edgeplan) if not n.startswith("_") or n == "__version__"}
    assert set(stub_names()) == runtime


def test_the_stub_lists_every_member():
    for name, members in stub_names().items():
        cls = getattr(_edgeplan, name)
        if members is None or issubclass(cls, Exception):
            continue
        runtime = {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}
        assert members == runtime, name


def test_the_package_exports_the_module():
    for name in edgeplan.__all__:
        assert hasattr(edgeplan, name), name
    assert edgeplan.Result is _edgeplan.Result

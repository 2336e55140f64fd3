"""The simulator's modules form layers: leaves, the state, handlers and the controller, then the simulator itself.

Handler modules and the controller depend only downward and never on each other; there is no import cycle, so
every module imports first in a fresh interpreter, whatever was imported before it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "drkit" / "testing"
# Layer of each module: a module may import only modules of a strictly lower layer.
LAYERS = {
    **dict.fromkeys(
        ("rpc", "gojson", "clock", "specs", "templates", "permissions", "syncwindows", "known_hosts",
         "gpg_demo_keys", "faults", "versions", "capacity", "app_status"),
        0,
    ),
    **dict.fromkeys(("labels", "routes", "watch", "grpc_limit", "s3faults"), 1),
    "state": 2,
    **dict.fromkeys(("auth", "app_validation"), 3),
    **dict.fromkeys(
        ("session", "applications", "app_sync", "applicationsets", "projects", "repositories", "repocreds",
         "clusters", "certificates", "gpgkeys", "controller", "gateway"),
        4,
    ),
    **dict.fromkeys(("seed", "workers"), 5),
    "sim": 6,
    "__init__": 7,
}  # fmt: skip


def modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


def imports_of(name: str) -> set[str]:
    """Every drkit.testing module `name` imports, at module level or inside a function."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "drkit.testing":
            found |= {alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").exists()}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("drkit.testing."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("drkit.testing.")}
    return found - {name}


def test_every_module_has_a_layer():
    assert set(modules()) <= set(LAYERS), f"give these modules a layer: {set(modules()) - set(LAYERS)}"


@pytest.mark.parametrize("name", modules())
def test_module_imports_only_lower_layers(name):
    upward = {m for m in imports_of(name) if LAYERS[m] >= LAYERS[name]}
    assert not upward, f"{name} (layer {LAYERS[name]}) imports {upward} of the same or a higher layer"


def test_import_graph_is_acyclic():
    graph = {name: imports_of(name) for name in modules()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join(path + (name,))}"
        if name in done:
            return
        for dep in graph[name]:
            visit(dep, path + (name,))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_a_cycle_is_detected(tmp_path, monkeypatch):
    """The cycle check can fail: two modules importing each other are reported."""
    (tmp_path / "a.py").write_text("from drkit.testing import b\n")
    (tmp_path / "b.py").write_text("from drkit.testing.a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    monkeypatch.setitem(LAYERS, "a", 4)
    monkeypatch.setitem(LAYERS, "b", 4)
    with pytest.raises(AssertionError, match="import cycle"):
        test_import_graph_is_acyclic()


@pytest.mark.parametrize("name", [m for m in modules() if m != "__init__"])
def test_module_imports_first_in_a_fresh_interpreter(name):
    done = subprocess.run([sys.executable, "-c", f"import drkit.testing.{name}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", modules())
def test_module_is_small(name):
    lines = len((PACKAGE / f"{name}.py").read_text().splitlines())
    assert lines <= 420, f"{name}.py has {lines} lines; split it by concern"

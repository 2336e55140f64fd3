"""The simulator's modules form layers: leaves, the state, handlers and the controller, then the simulator itself.

Handler modules and the controller depend only downward and never on each other; there is no import cycle, so
every module imports first in a fresh interpreter, whatever was imported before it. A subpackage (`kube`, the
simulated Kubernetes API) counts as one module of the package's layers, and its own modules form layers of
their own, checked the same way.
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
         "gpg_demo_keys", "faults", "versions", "capacity", "app_status", "kube", "secret_codec"),
        0,
    ),
    # secret_db: Argo CD's repositories, templates and clusters as Secrets of the kube store; install: a fresh
    # install's namespace
    **dict.fromkeys(("labels", "routes", "watch", "grpc_limit", "s3faults", "secret_db", "install"), 1),
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
# The layers inside each subpackage, by the same rule
SUBPACKAGES = {
    "kube": {
        **dict.fromkeys(("status", "rbac", "kubeconfig"), 0),
        **dict.fromkeys(("validation", "patch"), 1),
        **dict.fromkeys(("selectors", "codec"), 2),
        "store": 3,
        "server": 4,
        "__init__": 5,
    },
}  # fmt: skip


def modules() -> list[str]:
    return sorted([p.stem for p in PACKAGE.glob("*.py")] + [p.parent.name for p in PACKAGE.glob("*/__init__.py")])


def _files(name: str) -> list[Path]:
    return sorted((PACKAGE / name).glob("*.py")) if (PACKAGE / name).is_dir() else [PACKAGE / f"{name}.py"]


def _imported(path: Path) -> set[str]:
    """Every dotted drkit.testing module path `path` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("drkit.testing"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("drkit.testing.")}
    return found


def imports_of(name: str) -> set[str]:
    """Every drkit.testing module (or subpackage) `name` imports, outside itself."""
    found = set()
    for dotted in set().union(*(_imported(f) for f in _files(name))):
        parts = dotted.split(".")
        if len(parts) > 2 and ((PACKAGE / f"{parts[2]}.py").exists() or (PACKAGE / parts[2]).is_dir()):
            found.add(parts[2])
    return found - {name}


def sub_imports_of(package: str, name: str) -> set[str]:
    """The modules of `package` that its module `name` imports."""
    prefix = f"drkit.testing.{package}."
    inside = {
        d[len(prefix) :].split(".")[0] for d in _imported(PACKAGE / package / f"{name}.py") if d.startswith(prefix)
    }
    return {m for m in inside if (PACKAGE / package / f"{m}.py").exists()} - {name}


def submodules() -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.stem) for p in PACKAGE.glob("*/*.py") if p.parent.name in SUBPACKAGES)


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


def test_every_submodule_has_a_layer():
    missing = {f"{package}.{name}" for package, name in submodules() if name not in SUBPACKAGES[package]}
    assert not missing, f"give these modules a layer: {missing}"


@pytest.mark.parametrize(("package", "name"), submodules())
def test_submodule_imports_only_lower_layers(package, name):
    layers = SUBPACKAGES[package]
    upward = {m for m in sub_imports_of(package, name) if layers[m] >= layers[name]}
    assert not upward, f"{package}.{name} (layer {layers[name]}) imports {upward} of the same or a higher layer"


@pytest.mark.parametrize(
    "name",
    [m for m in modules() if m != "__init__"] + [f"{p}.{n}" for p, n in submodules() if n != "__init__"],
)
def test_module_imports_first_in_a_fresh_interpreter(name):
    done = subprocess.run([sys.executable, "-c", f"import drkit.testing.{name}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", [p for m in modules() for p in _files(m)], ids=lambda p: p.stem)
def test_module_is_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 420, f"{path.name} has {lines} lines; split it by concern"

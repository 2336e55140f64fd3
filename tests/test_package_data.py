"""Every file drkit loads at run time is in the wheel (issue 16: swagger.json was not, and only a user saw it).

Two readings of the source tree the wheel was built from, both checked against the wheel's zip listing:
- every file under drkit/ that is not Python (README.md excepted) must be in the wheel;
- every data file the code names must be in the wheel: `importlib.resources.files(PKG)` (or `__package__`,
  `__name__`), `pkgutil.get_data`, `Path(__file__)` and `os.path.dirname(__file__)`, followed by `/`,
  `joinpath`, `os.path.join` or `with_name`, through simple assignments. An f-string or a variable in a name
  becomes a glob that must match something in the wheel; a package given by a variable fails the test, since
  nobody could tell what to ship for it.
The walk is recursive, so modules moved into subpackages are read wherever they live.
"""

from __future__ import annotations

import ast
import fnmatch
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.installed import Installed

pytestmark = pytest.mark.slow
FILES_CALLS = {"files", "resources.files", "importlib.resources.files", "importlib_resources.files"}
FILE_CALLS = {"Path", "pathlib.Path", "os.path.abspath", "os.path.realpath", "os.fspath", "str"}
UNRESOLVED = "<unresolved>"


@dataclass(frozen=True)
class Ref:
    """A data file (or a glob of them) one line of code names, as a path from the tree root."""

    module: str
    line: int
    pattern: str


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def name_part(node: ast.AST) -> str:
    """A path argument as text: a constant, an f-string with `*` for each field, else `*`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "*" for v in node.values)
    return "*"


class Resolver:
    """Evaluates path expressions of one module to (parts from the tree root, whether a name was joined)."""

    def __init__(self, module: Path, root: Path) -> None:
        self.parts = list(module.relative_to(root).parts)
        package = self.parts[:-1]
        self.package = package
        self.names: dict[str, tuple[list[str], bool]] = {}

    def package_of(self, node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.split(".")
        if isinstance(node, ast.Name) and node.id in ("__package__", "__name__"):
            return self.package
        return [UNRESOLVED]

    def join(self, base: tuple[list[str], bool] | None, args: list[ast.expr]) -> tuple[list[str], bool] | None:
        if base is None:
            return None
        parts = list(base[0])
        for arg in args:
            parts += [p for p in name_part(arg).split("/") if p not in ("", ".")]
        return parts, True

    def eval(self, node: ast.AST) -> tuple[list[str], bool] | None:
        if isinstance(node, ast.Name):
            return ([*self.parts], False) if node.id == "__file__" else self.names.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self.join(self.eval(node.left), [node.right])
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            base = self.eval(node.value)
            return (base[0][:-1], base[1]) if base else None
        if isinstance(node, ast.Subscript) and dotted(node.value).endswith(".parents"):
            base = self.eval(node.value.value)  # type: ignore[attr-defined]
            up = node.slice.value if isinstance(node.slice, ast.Constant) else 0
            return (base[0][: -(up + 1)], base[1]) if base else None
        if isinstance(node, ast.Call):
            return self.call(node)
        return None

    def call(self, node: ast.Call) -> tuple[list[str], bool] | None:
        name, args = dotted(node.func), node.args
        if name in FILES_CALLS and args:
            return self.package_of(args[0]), False
        if name == "pkgutil.get_data" and len(args) == 2:
            return self.join((self.package_of(args[0]), False), [args[1]])
        if name in FILE_CALLS and len(args) == 1:
            return self.eval(args[0])
        if name == "os.path.dirname" and len(args) == 1:
            base = self.eval(args[0])
            return (base[0][:-1], base[1]) if base else None
        if name == "os.path.join" and args:
            return self.join(self.eval(args[0]), args[1:])
        if isinstance(node.func, ast.Attribute):
            method, base = node.func.attr, self.eval(node.func.value)
            if method in ("resolve", "absolute"):
                return base
            if method == "joinpath":
                return self.join(base, args)
            if method == "with_name" and base and args:
                return self.join((base[0][:-1], base[1]), args)
        return None


def references(module: Path, root: Path) -> list[Ref]:
    """The data files one module names, each as a path (or glob) from the tree root."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    resolver = Resolver(module, root)
    for node in ast.walk(tree):  # simple assignments first, so `HERE / "x"` resolves wherever HERE is bound
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found = resolver.eval(node.value)
            if found:
                resolver.names[node.targets[0].id] = found
    name = module.relative_to(root).as_posix()
    refs = set()
    for node in ast.walk(tree):
        found = resolver.eval(node) if isinstance(node, ast.expr) and not isinstance(node, ast.Name) else None
        if found and (found[1] or UNRESOLVED in found[0]):
            refs.add(Ref(name, node.lineno, "/".join(found[0])))
    return sorted(refs, key=lambda r: (r.line, r.pattern))


def source_data(package: Path) -> set[str]:
    """Every file under the package that is not Python (nor bytecode), README.md excepted, from the tree root."""
    return {
        p.relative_to(package.parent).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and p.name != "README.md" and "__pycache__" not in p.parts
    }


def in_wheel(pattern: str, listing: set[str]) -> bool:
    """The wheel holds the file, a directory of that name, or (for a glob) something matching it."""
    if "*" in pattern:
        return any(fnmatch.fnmatchcase(name, pattern) for name in listing)
    return pattern in listing or any(name.startswith(f"{pattern}/") for name in listing)


def missing(data: set[str], refs: list[Ref], listing: set[str]) -> list[str]:
    """What the wheel lacks: each source data file, each file the code names."""
    problems = [f"{name}: in the source package, not in the wheel" for name in sorted(data - listing)]
    for ref in refs:
        if UNRESOLVED in ref.pattern:
            problems.append(f"{ref.module}:{ref.line}: loads from a package given by a variable; name it")
        elif not in_wheel(ref.pattern, listing):
            problems.append(f"{ref.module}:{ref.line}: loads {ref.pattern}, not in the wheel")
    return problems


def all_references(package: Path) -> list[Ref]:
    return [ref for module in sorted(package.rglob("*.py")) for ref in references(module, package.parent)]


def wheel_listing(installed: Installed) -> set[str]:
    with zipfile.ZipFile(installed.wheel) as wheel:
        return {name for name in wheel.namelist() if not name.endswith("/")}


def test_the_wheel_holds_every_file_drkit_loads(installed_wheel: Installed) -> None:
    package = installed_wheel.tree / "drkit"
    refs, data = all_references(package), source_data(package)
    assert refs, "the scan found no resource loads: the scanner, not drkit, is broken"
    assert data, "the source package has no data files: the walk, not drkit, is broken"
    assert missing(data, refs, wheel_listing(installed_wheel)) == []


def test_a_wheel_without_one_of_those_files_fails(installed_wheel: Installed) -> None:
    """The check above can fail: drop swagger.json (issue 16), or any file the code names, and it is reported."""
    package = installed_wheel.tree / "drkit"
    refs, data, listing = all_references(package), source_data(package), wheel_listing(installed_wheel)
    (swagger,) = [name for name in data if name.endswith("/swagger.json")]
    assert any(ref.pattern == swagger for ref in refs), "the scan sees the simulator load swagger.json"
    problems = missing(data, refs, listing - {swagger})
    assert f"{swagger}: in the source package, not in the wheel" in problems, problems
    assert any(p.endswith(f"loads {swagger}, not in the wheel") for p in problems), problems
    for ref in refs:  # the code reading alone catches each named file, even one no data rule would list
        if "*" not in ref.pattern:
            kept = {n for n in listing if n != ref.pattern and not n.startswith(f"{ref.pattern}/")}
            assert missing(set(), [ref], kept), f"dropping {ref.pattern} went unnoticed"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_scanner_resolves_each_form_and_refuses_an_unnamed_package(tmp_path: Path) -> None:
    code = (
        "import os, pkgutil\nfrom importlib import resources\nfrom importlib.resources import files\n"
        "from pathlib import Path\nHERE = Path(__file__).resolve().parent\n"
        "a = resources.files('pkg.sub').joinpath('swagger.json').read_text()\n"
        "b = files(__package__).joinpath(f'v{1}', f'{a}.json')\n"
        "c = HERE / 'data' / 'x.yaml'\nd = Path(__file__).with_name('y.txt')\n"
        "e = os.path.join(os.path.dirname(__file__), 'z.csv')\nf = pkgutil.get_data('pkg', 'w.bin')\n"
        "g = Path(__file__).parents[2] / 'outside.md'\nh = files(some_name).joinpath('q')\n"
    )
    refs = references(write(tmp_path, "pkg/sub/mod.py", code), tmp_path)
    patterns = {r.pattern for r in refs}
    assert {"pkg/sub/swagger.json", "pkg/sub/v*/*.json", "pkg/sub/data/x.yaml", "pkg/sub/y.txt"} <= patterns
    assert {"pkg/sub/z.csv", "pkg/w.bin", "outside.md"} <= patterns
    listing = {"pkg/sub/mod.py", "pkg/sub/swagger.json", "pkg/sub/v1/a.json", "pkg/sub/data/x.yaml"}
    problems = missing(set(), refs, listing)
    for absent in ("pkg/sub/y.txt", "pkg/sub/z.csv", "pkg/w.bin", "outside.md", "a package given by a variable"):
        assert any(absent in p for p in problems), (absent, problems)
    assert not any("swagger.json" in p or "v*/*.json" in p or "x.yaml" in p for p in problems), problems


def test_source_data_skips_python_bytecode_and_readme(tmp_path: Path) -> None:
    for name in ("pkg/a.py", "pkg/README.md", "pkg/__pycache__/a.cpython-311.pyc", "pkg/t/demo.yaml"):
        write(tmp_path, name, "")
    assert source_data(tmp_path / "pkg") == {"pkg/t/demo.yaml"}
    assert missing({"pkg/t/demo.yaml"}, [], {"pkg/a.py"}) == [
        "pkg/t/demo.yaml: in the source package, not in the wheel"
    ]

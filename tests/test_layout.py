"""How drkit's packages depend on each other and how big their modules are.

Each package's docstring names its stage and, on a `May import:` line, the drkit packages it may import: those
lines are the layering, listed once, and the tests here hold every import to them, with no cycle and no module
over ~400 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "drkit"


def imports(path: Path) -> set[str]:
    """drkit modules one file imports, at the top or inside functions (both make a cycle)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("drkit"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from drkit import backup`
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("drkit")}
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py") if p.stem != "__main__" and "testing" not in p.parts}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of module names, or []."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = "done"
        return []

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [])
            if found:
                return found
    return []


def package_of(module: str) -> str:
    """The stage a module belongs to: `drkit.restore.plan` -> `drkit.restore`; a root module is its own."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else module


def allowed() -> dict[str, set[str]]:
    """Each package's `May import:` line, from its docstring."""
    rules = {}
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        lines = [line for line in doc.splitlines() if line.startswith("May import:")]
        assert len(lines) == 1, f"{init.parent.name}/__init__.py: its docstring needs one 'May import:' line"
        names = lines[0].removeprefix("May import:").strip().rstrip(".")
        rules[f"drkit.{init.parent.name}"] = {
            n.strip() for n in names.split(",") if n.strip() and n.strip() != "nothing"
        }
    return rules


def violations(edges: dict[str, set[str]], rules: dict[str, set[str]]) -> list[str]:
    """Imports that cross into a package its rule does not name (the root `drkit` and `drkit.errors` are free)."""
    free = {"drkit", "drkit.errors"}
    found = []
    for module, targets in sorted(edges.items()):
        home = package_of(module)
        for target in sorted(targets):
            there = package_of(target)
            if there != home and there not in free and there not in rules.get(home, set()):
                found.append(f"{module} imports {target}, but {home} may import only {sorted(rules.get(home, ()))}")
    return found


def test_every_package_names_its_stage_and_imports() -> None:
    rules = allowed()
    assert {"drkit.argocd", "drkit.backup", "drkit.export", "drkit.restore", "drkit.ops", "drkit.cli"} <= set(rules)
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "Stage:" in doc or init.parent.name in ("testing", "schemas"), f"{init}: say its stage"


def test_imports_keep_to_each_package_rule() -> None:
    edges, rules = graph(), allowed()
    assert "drkit.backup.store" in edges["drkit.backup.format"]  # the graph is read, not empty
    assert violations(edges, rules) == []


def test_the_rule_checker_finds_an_import_up_the_layers() -> None:
    edges = {"drkit.argocd.kinds": {"drkit.restore.plan", "drkit.errors"}, "drkit.restore.plan": {"drkit.argocd.kinds"}}
    found = violations(edges, {"drkit.argocd": set(), "drkit.restore": {"drkit.argocd"}})
    assert found == ["drkit.argocd.kinds imports drkit.restore.plan, but drkit.argocd may import only []"]


def test_the_simulator_imports_nothing_of_drkit_but_itself() -> None:
    """drkit.testing is an independent double: it reads Argo CD's notes, never drkit's own idea of Argo CD."""
    found = {
        f"{p.relative_to(PACKAGE.parent)}: {m}"
        for p in (PACKAGE / "testing").rglob("*.py")
        for m in imports(p)
        if not m.startswith("drkit.testing")
    }
    assert found == set()


def test_the_cycle_finder_finds_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_drkit_has_no_import_cycle() -> None:
    edges = graph()
    assert (
        "drkit.argocd.kinds" in edges and "drkit.argocd.urls" in edges["drkit.argocd.kinds"]
    )  # the graph is read, not empty
    assert cycle(edges) == []


MAX_LINES = 400  # STYLE.md: modules under ~400 lines; issue 17: none over 400


def test_no_module_is_over_the_size_guideline() -> None:
    sizes = {p.relative_to(PACKAGE.parent).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(sizes) > 20
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_argo_cd_api_paths_live_in_the_kind_table_and_the_client() -> None:
    """Endpoints are spelt in kinds.py (each kind's row) and argocd.py (session, version, settings) only."""
    spelt = {
        p.name: n
        for p in PACKAGE.rglob("*.py")
        if "testing" not in p.parts
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "/api/" in line and p.name not in ("kinds.py", "client.py")
    }
    assert spelt == {}
    assert "/api/v1/applications" in (PACKAGE / "argocd" / "kinds.py").read_text(encoding="utf-8")


def test_the_readme_layout_names_every_package_and_only_files_that_exist() -> None:
    """README's Layout table: a row per package, and each module a row or the flow names is really there."""
    text = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Layout") :]
    rows = re.findall(r"^\| `drkit/([a-z_]+)/` \| (.*) \|$", section, re.MULTILINE)
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - {"schemas"}
    assert {name for name, _ in rows} == packages
    named = {f"{pkg}/{f}" for pkg, cells in rows for f in re.findall(r"`([a-z_]+\.py)`", cells)}
    named |= set(re.findall(r"`([a-z]+/[a-z_]+\.py)`", section)) - {"schemas/generate.py", "tests/test_layout.py"}
    assert len(named) > 30
    assert sorted(n for n in named if not (PACKAGE / n).is_file()) == []

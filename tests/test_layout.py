"""How drkit's modules depend on each other and how big they are: no import cycle, none over ~400 lines."""

from __future__ import annotations

import ast
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


def graph() -> dict[str, set[str]]:
    modules = {f"drkit.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__main__"}
    modules["drkit"] = modules.pop("drkit.__init__")
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


def test_the_cycle_finder_finds_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_drkit_has_no_import_cycle() -> None:
    edges = graph()
    assert "drkit.kinds" in edges and "drkit.urls" in edges["drkit.kinds"]  # the graph is read, not empty
    assert cycle(edges) == []


MAX_LINES = 420  # STYLE.md: modules under ~400 lines


def test_no_module_is_over_the_size_guideline() -> None:
    sizes = {p.relative_to(PACKAGE.parent).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert len(sizes) > 20
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_argo_cd_api_paths_live_in_the_kind_table_and_the_client() -> None:
    """Endpoints are spelt in kinds.py (each kind's row) and argocd.py (session, version, settings) only."""
    spelt = {
        p.name: n
        for p in PACKAGE.glob("*.py")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "/api/" in line and p.name not in ("kinds.py", "argocd.py")
    }
    assert spelt == {}
    assert "/api/v1/applications" in (PACKAGE / "kinds.py").read_text(encoding="utf-8")

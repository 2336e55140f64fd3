"""Where each kind holds cluster server URLs, cluster names and repository URLs: the rewrites behind
`--remap-cluster` and `--remap-repo`, which the kind table names per kind. The rules themselves (matching,
counting, refusing a rule that matches nothing) are `drkit.restore.remap`'s.
"""

from __future__ import annotations

from typing import Any, Protocol


class Rewriter(Protocol):
    """What a kind's rewrite asks of the remap rules."""

    def server(self, value: str) -> str: ...
    def name(self, value: str) -> str: ...
    def repo(self, value: str) -> str: ...
    def repo_prefix(self, value: str) -> str: ...
    def is_server(self, value: str) -> bool: ...


def unchanged(rules: Rewriter, doc: dict[str, Any]) -> dict[str, Any]:
    """Kinds that hold no cluster or repository URL (certificates, GPG keys)."""
    return doc


def _walk(rules: Rewriter, node: Any, key: str = "") -> Any:
    """Rewrite `repoURL` values and `destination` server/name anywhere in an app or appset spec."""
    if isinstance(node, list):
        return [_walk(rules, item, key) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "repoURL" and isinstance(v, str):
            out[k] = rules.repo(v)
        elif key == "destination" and k == "server" and isinstance(v, str):
            out[k] = rules.server(v)
        elif key == "destination" and k == "name" and isinstance(v, str):
            out[k] = rules.name(v)
        elif k == "elements" and isinstance(v, list):
            out[k] = [_element(rules, e) for e in v]
        else:
            out[k] = _walk(rules, v, k)
    return out


def _element(rules: Rewriter, element: Any) -> Any:
    """A list generator's element: URL values that a rule names are rewritten (the template uses them as `{{url}}`).

    Only whole URLs: a cluster server rule, or a repo rule; other values (names that may become app names) stay.
    """
    if not isinstance(element, dict):
        return element
    out = {}
    for k, v in element.items():
        if isinstance(v, str) and "://" in v:
            v = rules.server(v) if rules.is_server(v) else rules.repo(v)
        out[k] = v
    return out


def rewrite_app(rules: Rewriter, doc: dict[str, Any]) -> dict[str, Any]:
    doc["spec"] = _walk(rules, doc.get("spec", {}))
    return doc


def rewrite_project(rules: Rewriter, doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.get("spec", {})
    if "sourceRepos" in spec:
        spec["sourceRepos"] = [_source_repo(rules, r) for r in spec["sourceRepos"]]
    for dest in spec.get("destinations", []):
        if dest.get("server") and dest["server"] != "*":
            dest["server"] = rules.server(dest["server"])
        if dest.get("name") and dest["name"] != "*":
            dest["name"] = rules.name(dest["name"])
    return doc


def _source_repo(rules: Rewriter, pattern: str) -> str:
    """A project sourceRepos entry; a `!` deny pattern is remapped too, or it would stop denying anything."""
    if pattern in ("*", "!*"):
        return pattern
    if pattern.startswith("!"):
        return "!" + rules.repo(pattern[1:])
    return rules.repo(pattern)


def rewrite_repository(rules: Rewriter, doc: dict[str, Any]) -> dict[str, Any]:
    doc["repo"] = rules.repo(doc["repo"])
    return doc


def rewrite_repocreds(rules: Rewriter, doc: dict[str, Any]) -> dict[str, Any]:
    doc["url"] = rules.repo_prefix(doc["url"])
    return doc


def rewrite_cluster(rules: Rewriter, doc: dict[str, Any]) -> dict[str, Any]:
    doc["server"] = rules.server(doc["server"])
    if doc.get("name"):
        doc["name"] = rules.name(doc["name"])
    return doc

"""Before the plan: `--app`/`--project` selection with its dependency closure, then `--remap-cluster`/`--remap-repo`.

Pure: `select()` returns the chosen objects and what they need; `remap()` returns new objects and how often each
rule matched. A rule that matches nothing is refused before anything is written, so a typo in a URL cannot silently
restore onto the old cluster or repository.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from drkit.argocd.kinds import KINDS, normalize_repo_url, normalize_server
from drkit.argocd.refs import Index, Ref, closure, kinds_to_read, refs
from drkit.argocd.shapes import sources_of  # noqa: F401 (re-exported)
from drkit.errors import ConfigError

Objects = dict[str, list[dict[str, Any]]]


def parse_rules(pairs: Iterable[str], flag: str) -> dict[str, str]:
    """`OLD=NEW` strings (as given to `flag`) as a mapping; a bad form or a repeated OLD is a ConfigError."""
    rules: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise ConfigError(f"{flag} {pair!r} is not OLD=NEW", hint=f"for example {flag} {_example(flag)}")
        if old in rules and rules[old] != new:
            raise ConfigError(f"{flag} {old} is given twice, to {rules[old]} and to {new}; keep one")
        rules[old] = new
    return rules


def _example(flag: str) -> str:
    if "cluster" in flag:
        return "https://10.0.0.1:6443=https://10.9.0.1:6443"
    return "https://git.old.example.com/=https://git.new.example.com/"


@dataclass
class RemapResult:
    """The remapped objects and, per rule `OLD=NEW`, how many values it rewrote."""

    objects: Objects
    counts: dict[str, int] = field(default_factory=dict)


class _Rules:
    """Cluster and repo rules with their match counters and the values seen, for near-miss hints."""

    def __init__(self, clusters: dict[str, str], repos: dict[str, str]) -> None:
        self.servers = {normalize_server(o): normalize_server(n) for o, n in clusters.items() if _is_url(o)}
        self.names = {o: n for o, n in clusters.items() if not _is_url(o)}
        self.repos = dict(repos)
        self.hits: dict[tuple[str, str], int] = {}
        self.seen: dict[str, set[str]] = {"server": set(), "name": set(), "repo": set()}

    def _hit(self, what: str, old: str) -> None:
        self.hits[(what, old)] = self.hits.get((what, old), 0) + 1

    def server(self, value: str) -> str:
        self.seen["server"].add(value)
        new = self.servers.get(normalize_server(value))
        if new is None:
            return value
        self._hit("server", normalize_server(value))
        return new

    def is_server(self, value: str) -> bool:
        """True when a --remap-cluster rule names this server URL."""
        return normalize_server(value) in self.servers

    def name(self, value: str) -> str:
        self.seen["name"].add(value)
        if value not in self.names:
            return value
        self._hit("name", value)
        return self.names[value]

    def repo(self, value: str, *, prefix_only: bool = False) -> str:
        """A repo URL rewritten by an exact (SameURL) rule, or by a prefix rule (OLD ends with `/`)."""
        self.seen["repo"].add(value)
        for old, new in self.repos.items():
            if old.endswith("/"):
                if value.lower().startswith(old.lower()):
                    self._hit("repo", old)
                    return new + value[len(old) :]
            elif not prefix_only and normalize_repo_url(old) == normalize_repo_url(value):
                self._hit("repo", old)
                return new
        return value

    def repo_prefix(self, value: str) -> str:
        """A credential template URL (itself a prefix): exact rules match it too, as a URL."""
        self.seen["repo"].add(value)
        for old, new in self.repos.items():
            if not old.endswith("/") and normalize_repo_url(old) == normalize_repo_url(value):
                self._hit("repo", old)
                return new
        return self.repo(value, prefix_only=True)

    def unmatched(self) -> list[str]:
        problems = []
        for old, new in self.servers.items():
            if ("server", old) not in self.hits:
                problems.append(_miss("--remap-cluster", old, new, self.seen["server"] | self.seen["name"]))
        for old, new in self.names.items():
            if ("name", old) not in self.hits:
                problems.append(_miss("--remap-cluster", old, new, self.seen["name"] | self.seen["server"]))
        for old, new in self.repos.items():
            if ("repo", old) not in self.hits:
                problems.append(_miss("--remap-repo", old, new, self.seen["repo"]))
        return problems

    def counts(self) -> dict[str, int]:
        out = {f"{o}={n}": self.hits.get(("server", o), 0) for o, n in self.servers.items()}
        out |= {f"{o}={n}": self.hits.get(("name", o), 0) for o, n in self.names.items()}
        return out | {f"{o}={n}": self.hits.get(("repo", o), 0) for o, n in self.repos.items()}


def remap_repo_url(value: str, repos: dict[str, str], *, template: bool = False) -> str:
    """One repository URL (`template`: a credential template's) as --remap-repo rewrites it in the API objects."""
    rules = _Rules({}, repos)
    return rules.repo_prefix(value) if template else rules.repo(value)


def _is_url(value: str) -> bool:
    return "://" in value


def _miss(flag: str, old: str, new: str, seen: set[str]) -> str:
    near = difflib.get_close_matches(old, sorted(v for v in seen if v), n=3, cutoff=0.5)
    hint = f"near values in the backup: {', '.join(near)}" if near else "no similar value is in the backup"
    return f"{flag} {old}={new} matches nothing ({hint})"


def remap(objects: Objects, clusters: dict[str, str], repos: dict[str, str]) -> RemapResult:
    """Apply cluster and repo rules everywhere their values occur; unmatched rules raise ConfigError."""
    rules = _Rules(clusters, repos)
    out: Objects = {}
    for kind, docs in objects.items():
        if clusters or repos:  # rewriters work in place, on a copy
            out[kind] = [KINDS[kind].rewrite(rules, copy.deepcopy(d)) for d in docs]
        else:  # nothing to rewrite: the documents themselves, which nothing downstream changes
            out[kind] = list(docs)
    problems = rules.unmatched()
    if problems:
        raise ConfigError(
            "remap rule(s) match nothing: " + "; ".join(problems),
            hint="nothing was written; fix the rule (server URLs, cluster names and repo URLs as in the backup)",
        )
    return RemapResult(out, rules.counts())


# selection ----------------------------------------------------------------------------------------------------


def select(objects: Objects, options: Any) -> Objects:
    """The objects of `options.kinds` that `--app`/`--project` select, plus what those need (their closure).

    A kind pulled in only by the closure (`--kinds applications` needs projects) contributes just the objects the
    selected applications and ApplicationSets use; the plan creates them only where the target lacks them.
    """
    chosen = {k: list(objects.get(k, [])) for k in kinds_to_read(tuple(options.kinds))}
    filtered = bool(options.apps or options.projects)
    closure_only = set(chosen) - set(options.kinds)
    if not filtered and not closure_only:
        return chosen
    depended_on = {d for k in chosen for d in KINDS[k].depends_on}
    index = Index(chosen)
    asked = {id(d) for p in options.projects for d in index.find(Ref("projects", "name", p, f"project {p!r}"))}
    roots: Objects = {}
    for kind, docs in chosen.items():
        if kind in closure_only:
            roots[kind] = []
        elif not filtered or not ("projects" in KINDS[kind].depends_on or kind in depended_on):
            roots[kind] = docs  # certificates and GPG keys: all of them when the kinds ask for them
        elif "projects" in KINDS[kind].depends_on:
            roots[kind] = [d for d in docs if _selected(kind, d, options)]  # what --app and --project choose
        else:
            roots[kind] = [d for d in docs if id(d) in asked]  # what others need, and projects --project names
    needed = closure(chosen, roots)
    keep = {id(d) for docs in list(roots.values()) + list(needed.values()) for d in docs}
    return {k: [d for d in docs if id(d) in keep] for k, docs in chosen.items()}


def _selected(kind: str, doc: dict[str, Any], options: Any) -> bool:
    """An application or ApplicationSet that `--app` (name or ns/name glob) and `--project` choose."""
    meta = doc.get("metadata", {})
    names = (meta["name"], f"{meta.get('namespace', '')}/{meta['name']}")
    if options.apps and not any(fnmatch.fnmatchcase(n, g) for n in names for g in options.apps):
        return False
    projects = [r.value for r in refs(kind, doc) if r.kind == "projects"]
    return not options.projects or any(p in options.projects for p in projects)

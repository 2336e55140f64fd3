"""YAML in and out: deterministic dumping, and loading that refuses oversized documents and aliases (YAML bombs).

drkit never writes an anchor or an alias, so a backup or credentials file holding one was not written by drkit
as it stands: a billion-laughs document expands a few KB of aliases into gigabytes. Refusing every alias, rather
than counting expansions, is one rule with no threshold to tune.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 64 * 1024 * 1024  # a manifest of 100k objects is ~30 MB; an Application spec is at most a few MB

try:  # the C dumper is 5-10x faster where libyaml is present; both give the same bytes
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


class HostileDocument(yaml.YAMLError):
    """A document drkit refuses to parse: too large, or using aliases; `problem` says which, as PyYAML's own do."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class _NoAliasDumper(_Dumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(document: Any) -> bytes:
    """Deterministic YAML: sorted keys, block style, no line folding, never an anchor or alias."""
    return yaml.dump(
        document, Dumper=_NoAliasDumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 16
    ).encode()


def check(data: bytes | str) -> None:
    """Raise HostileDocument if `data` is over MAX_BYTES or holds an alias; cheap when it holds no `&` or `*`."""
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > MAX_BYTES:
        raise HostileDocument(f"{size} bytes, more than the {MAX_BYTES}-byte bound drkit reads")
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if b"*" not in raw:
        return
    for event in yaml.parse(raw, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else "?"
            raise HostileDocument(f"YAML alias at line {line}: drkit never writes aliases (a YAML bomb?)")


def load(data: bytes) -> Any:
    """Parse one YAML document drkit wrote, after `check`."""
    check(data)
    return yaml.load(data, Loader=_Loader)

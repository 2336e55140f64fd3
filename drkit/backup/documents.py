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
            raise _alias(event)


def _alias(event: Any) -> HostileDocument:
    line = event.start_mark.line + 1 if event.start_mark else "?"
    return HostileDocument(f"YAML alias at line {line}: drkit never writes aliases (a YAML bomb?)")


def load(data: bytes) -> Any:
    """Parse one YAML document drkit wrote, refusing what `check` refuses.

    The objects are built straight from libyaml's parse events, which is about a third cheaper than PyYAML's node
    graph and constructor (a restore parses every object of a backup); a document with anything but plain maps,
    lists and scalars (an anchor, an explicit tag, a merge key, a second document) goes to PyYAML's SafeLoader
    whole, so both give the same result, errors included.
    """
    if len(data) > MAX_BYTES:
        check(data)  # raises, naming the bound
    try:
        return _build(yaml.parse(data, Loader=_Loader))  # an alias raises there: one parse, not a check and a load
    except _Unusual:
        check(data)  # before an alias, something else may have sent the document here
        return yaml.load(data, Loader=_Loader)


class _AnyCharacter:
    def __contains__(self, character: object) -> bool:
        return True


class _Unusual(Exception):
    """A document the event builder leaves to PyYAML's SafeLoader."""


_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR, _MERGE = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"
# The first characters of a plain scalar PyYAML may resolve to something else than a string (a digit, `t`, `~`, ...);
# all of them, should a resolver ever match any first character
_RESOLVED_FIRST = (
    frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k)
    if None not in _RESOLVER.yaml_implicit_resolvers
    else _AnyCharacter()
)
_KEY = object()  # a map waiting for its next key
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)


def _build(events: Any) -> Any:
    stack: list[list[Any]] = []  # [the open map or list, its pending key]
    root, documents = None, 0
    for event in events:
        if isinstance(event, yaml.ScalarEvent):
            value = _scalar(event)
        elif isinstance(event, _OPEN):
            if event.anchor is not None or not event.implicit:
                raise _Unusual
            stack.append([{} if isinstance(event, yaml.MappingStartEvent) else [], _KEY])
            continue
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            value = stack.pop()[0]
        elif isinstance(event, yaml.AliasEvent):
            raise _alias(event)
        elif isinstance(event, yaml.DocumentStartEvent) and documents:
            raise _Unusual  # a second document: SafeLoader's error says so
        else:
            documents += isinstance(event, yaml.DocumentStartEvent)
            continue
        if not stack:
            root = value
        elif isinstance(stack[-1][0], list):
            stack[-1][0].append(value)
        elif stack[-1][1] is _KEY:
            if isinstance(value, (dict, list)):
                raise _Unusual  # an unhashable key: PyYAML's error says so
            stack[-1][1] = value
        else:
            stack[-1][0][stack[-1][1]] = value
            stack[-1][1] = _KEY
    return root


def _scalar(event: Any) -> Any:
    """A scalar's value: quoted and block ones are strings; a plain one is resolved (int, bool, null, ...) as
    PyYAML's SafeLoader resolves it."""
    if event.anchor is not None or event.tag not in (None, "!"):
        raise _Unusual
    value = event.value
    if not event.implicit[0] or (value and value[0] not in _RESOLVED_FIRST):
        return value  # the resolver looks only at plain scalars, by their first character: this one is a string
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
    if tag == _STR:
        return value
    if tag == _MERGE or tag not in _CONSTRUCTOR.yaml_constructors:
        raise _Unusual
    return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value))

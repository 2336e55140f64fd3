"""Label and field selectors as kube-apiserver parses and applies them to a list.

Label selectors follow k8s.io/apimachinery `pkg/labels/selector.go` (the lexer, `parse`, `NewRequirement`
and `Requirement.Matches`): `a=b`, `a==b`, `a!=b` (also true when `a` is absent), `a in (x,y)`, `a notin (x)`
(true when absent), `a` (exists), `!a` (does not exist), `a>1`/`a<1` (integers), comma-separated and ANDed; see
https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors. Field selectors follow
`pkg/fields/selector.go` (`=`, `==`, `!=`, backslash escapes) with the fields the core registry converts for
ConfigMaps (`metadata.name`, `metadata.namespace`) and Secrets (and `type`); any other is 400 `field label not
supported: X` (https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/). A bad
selector is 400 BadRequest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drkit.testing.kube.status import bad_request
from drkit.testing.kube.validation import label_key_errors, label_value_errors

SPECIAL = "=!(),><"
FIELDS = {
    "configmaps": ("metadata.name", "metadata.namespace"),
    "secrets": ("metadata.name", "metadata.namespace", "type"),
}
Labels = dict[str, str]


def _tokens(text: str) -> list[str]:
    """The lexer: identifiers (runs of anything but space and SPECIAL), then the operators and punctuation."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in SPECIAL:
            two = text[i : i + 2]
            out.append(two if two in ("!=", "==") else ch)
            i += len(out[-1])
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in SPECIAL:
                j += 1
            out.append(text[i:j])
            i = j
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.pos = _tokens(text), 0

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self) -> str:
        token = self.peek()
        self.pos += 1
        return token

    def requirement(self) -> Callable[[Labels], bool]:
        negated = self.peek() == "!"
        if negated:
            self.take()
        key = self.take()
        if not key or key[0] in SPECIAL:
            raise ValueError(f"found '{key}', expected: identifier")
        if errors := label_key_errors(key):
            raise ValueError(f'key: Invalid value: "{key}": {"; ".join(errors)}')
        if self.peek() in ("", ","):
            return (lambda lb: key not in lb) if negated else (lambda lb: key in lb)
        if negated:
            raise ValueError(f"found '{self.peek()}', expected: ',' or 'end of string'")
        op = self.take()
        if op in ("in", "notin"):
            values = self.values()
            if op == "in":
                return lambda lb: key in lb and lb[key] in values
            return lambda lb: key not in lb or lb[key] not in values
        if op not in ("=", "==", "!=", ">", "<"):
            raise ValueError(f"found '{op}', expected: in, notin, =, ==, !=, gt, lt")
        value = "" if self.peek() in ("", ",") else self.take()
        if value and value[0] in SPECIAL:
            raise ValueError(f"found '{value}', expected: identifier")
        self.check_value(value)
        if op in (">", "<"):
            try:
                bound = int(value)
            except ValueError:
                raise ValueError(f"for 'Gt', 'Lt' operators, the value must be an integer: {value}") from None
            return lambda lb: key in lb and lb[key].lstrip("-").isdigit() and (int(lb[key]) > bound) == (op == ">")
        if op == "!=":
            return lambda lb: lb.get(key) != value
        return lambda lb: key in lb and lb[key] == value

    def values(self) -> set[str]:
        if self.take() != "(":
            raise ValueError("found '' expected: '('")
        values: set[str] = set()
        current = ""
        while True:
            token = self.take()
            if token == "":
                raise ValueError("found '', expected: ')'")
            if token == ")":
                values.add(current)
                break
            if token == ",":
                values.add(current)
                current = ""
            elif token[0] in SPECIAL:
                raise ValueError(f"found '{token}', expected: ',', ')' or identifier")
            else:
                current = token
        for value in values:
            self.check_value(value)
        return values

    @staticmethod
    def check_value(value: str) -> None:
        if errors := label_value_errors(value):
            raise ValueError(f'values[0]: Invalid value: "{value}": {"; ".join(errors)}')


def parse_labels(text: str) -> Callable[[Labels], bool]:
    """A predicate over an object's labels; 400 BadRequest for a selector the apiserver would not parse."""
    parser, terms = _Parser(text), []
    try:
        while parser.peek():
            try:
                terms.append(parser.requirement())
            except ValueError as err:
                raise ValueError(f"unable to parse requirement: {err}") from None
            after = parser.take()
            if after == ",":
                if parser.peek() in ("", ",") or (parser.peek()[0] in SPECIAL and parser.peek() != "!"):
                    raise ValueError(f"found '{parser.peek()}', expected: identifier after ','")
            elif after:
                raise ValueError(f"found '{after}', expected: ',' or 'end of string'")
    except ValueError as err:
        raise bad_request(str(err)) from None
    return lambda labels: all(term(labels) for term in terms)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if text.startswith(sep, i):
            parts.append(current)
            current = ""
            i += len(sep)
            continue
        current += text[i]
        i += 1
    parts.append(current)
    return parts


def _unescape(text: str) -> str:
    out, i = "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out += text[i + 1]
            i += 2
        else:
            out += text[i]
            i += 1
    return out


def parse_fields(resource: str, text: str) -> tuple[list[tuple[str, str, str]], Callable[[dict[str, Any]], bool]]:
    """The terms (field, op, value) of a field selector and a predicate over an object."""
    terms: list[tuple[str, str, str]] = []
    for term in (t for t in _split_unescaped(text, ",") if t):
        for op in ("!=", "==", "="):
            pieces = _split_unescaped(term, op)
            if len(pieces) == 2:
                terms.append((_unescape(pieces[0]), "=" if op == "==" else op, _unescape(pieces[1])))
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
    for field, _, _ in terms:
        if field not in FIELDS[resource]:
            raise bad_request(f"field label not supported: {field}")

    def value_of(obj: dict[str, Any], field: str) -> str:
        if field == "type":
            return str(obj.get("type", ""))
        return str(obj.get("metadata", {}).get(field.split(".", 1)[1], ""))

    def matches(obj: dict[str, Any]) -> bool:
        return all((value_of(obj, f) == v) == (op == "=") for f, op, v in terms)

    return terms, matches


def exact_name(terms: list[tuple[str, str, str]]) -> str:
    """The name a field selector requires exactly (RequiresExactMatch("metadata.name")), or ""."""
    names = [v for f, op, v in terms if f == "metadata.name" and op == "="]
    return names[0] if len(names) == 1 else ""

"""Kubernetes label selectors as the API server parses them (k8s.io/apimachinery labels.Parse, the common subset)."""

from __future__ import annotations

import re
from collections.abc import Callable

from drkit.testing.rpc import INVALID_ARGUMENT, GrpcError

SET_TERM = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
KEY = re.compile(r"^[\w./-]+$")


def parse_selector(text: str) -> Callable[[dict[str, str]], bool]:
    """A predicate over labels for `a=b,c!=d,e in (x,y),f notin (z),g,!h`; a bad selector is a 400."""
    terms = [t.strip() for t in re.split(r",(?![^(]*\))", text) if t.strip()]
    preds: list[Callable[[dict[str, str]], bool]] = []
    for term in terms:
        if m := SET_TERM.match(term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                preds.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                preds.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            preds.append(lambda lb, k=key, v=value: lb.get(k) != v)
        elif "=" in term:
            key, value = (p.strip() for p in term.replace("==", "=").split("=", 1))
            preds.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif term.startswith("!") and KEY.match(absent := term[1:].strip()):
            preds.append(lambda lb, k=absent: k not in lb)
        elif KEY.match(term):
            preds.append(lambda lb, k=term: k in lb)
        else:
            raise GrpcError(INVALID_ARGUMENT, f"unable to parse requirement: {term}")
    return lambda labels: all(p(labels) for p in preds)

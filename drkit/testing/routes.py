"""The simulator's routing table: every route of Argo CD's REST gateway, from swagger.json, and parameter parsing.

Routes and body bindings come from Argo CD's swagger.json; typed path and query parameters are parsed as the
generated grpc-gateway v1 code does (API-NOTES §1.1, §1.4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from drkit.testing import gojson
from drkit.testing.rpc import INVALID_ARGUMENT, GrpcError

# bug21955Workaround: these path parameters are taken raw and then url.QueryUnescape'd (API-NOTES §1.1).
# Routes whose last parameter is `{x=**}` in the proto (swagger shows a plain `{x}`).
GREEDY_TEMPLATES = frozenset({"/api/v1/account/can-i/{resource}/{action}/{subresource}"})
QUERY_UNESCAPED_PREFIXES = ("/api/v1/clusters/", "/api/v1/repositories/", "/api/v1/repocreds/")
# Query parameters read by Argo CD's own forwarders, outside the request messages swagger describes (§1.4)
QUERY_EXTRAS = frozenset({"fields"})


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    names: list[str]
    operation: str
    body_schema: dict[str, Any] | None
    template: str
    query_params: frozenset[str] = frozenset()  # what the request message takes from the query (none: body "*")
    typed: dict[str, str] = field(default_factory=dict)  # path/query parameter -> "bool" | "int", parsed as Go does


def load_routes() -> list[Route]:
    """Every route of Argo CD's REST gateway, from swagger.json."""
    routes = []
    for template, methods in gojson.swagger()["paths"].items():
        names = re.findall(r"{([^}]+)}", template)
        regex = re.sub(r"{[^}]+}", "([^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        if template in GREEDY_TEMPLATES:  # the proto says {param=**}: the last parameter spans slashes
            regex = regex[: regex.rindex("([^/]+)")] + "(.+)"
        for method, op in methods.items():
            params = op.get("parameters", [])
            body = next((p["schema"] for p in params if p["in"] == "body"), None)
            query = frozenset(p["name"] for p in params if p["in"] == "query") | QUERY_EXTRAS
            typed = {p["name"]: kind for p in params if (kind := _scalar_kind(p))}
            route = Route(
                method.upper(), re.compile(f"^{regex}$"), names, op["operationId"], body, template, query, typed
            )
            routes.append(route)
    # literal segments win over parameters, as in the gateway's pattern order
    routes.sort(key=lambda r: r.template.count("{"))
    return routes


def _scalar_kind(param: dict[str, Any]) -> str:
    """ "bool" or "int" for a path or query parameter the gateway parses with strconv, else ""."""
    if param["in"] not in ("path", "query"):
        return ""
    if param.get("type") == "boolean":
        return "bool"
    if param.get("type") == "integer" or param.get("format") in ("int64", "int32", "uint64", "uint32"):
        return "int"
    return ""


def _parse_scalar(kind: str, value: str) -> str:
    """The strconv error grpc-gateway v1's runtime.Bool / runtime.Int64 gives for value, or "" when it parses."""
    if kind == "bool":
        ok = value in ("1", "t", "T", "true", "TRUE", "True", "0", "f", "F", "false", "FALSE", "False")
        return "" if ok else f'strconv.ParseBool: parsing "{value}": invalid syntax'
    try:
        int(value, 0)  # runtime.Int64 is strconv.ParseInt(val, 0, 64)
        return ""
    except ValueError:
        return f'strconv.ParseInt: parsing "{value}": invalid syntax'


def parse_params(route: Route, params: dict[str, str], query: dict[str, list[str]]) -> dict[str, list[str]]:
    """Check typed path and query parameters as the generated gateway code does; return the query it reads.

    Path parameters give `type mismatch, parameter: x, error: ...`; query parameters the bare strconv error.
    A `body: "*"` route reads no query parameters at all, and others only their request message's fields.
    """
    for name, value in params.items():
        if (kind := route.typed.get(name)) and (err := _parse_scalar(kind, value)):
            raise GrpcError(INVALID_ARGUMENT, f"type mismatch, parameter: {name}, error: {err}")
    kept = {k: v for k, v in query.items() if k in route.query_params}
    for name, values in kept.items():
        if (kind := route.typed.get(name)) and values and (err := _parse_scalar(kind, values[0])):
            raise GrpcError(INVALID_ARGUMENT, err)
    return kept

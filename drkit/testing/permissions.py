"""AppProject permission checks apps are held to: source repos, destinations, app namespaces.

Source: `pkg/apis/application/v1alpha1/app_project_types.go` `IsSourcePermitted`, `IsDestinationPermitted`,
and `util/security` `IsNamespaceEnabled` (glob matches, `!` negations win).
"""

from __future__ import annotations

import fnmatch
from typing import Any


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern) or fnmatch.fnmatchcase(value.lower(), pattern.lower())


def source_permitted(spec: dict[str, Any], url: str) -> bool:
    """A repo URL matches a sourceRepos glob and no `!` negation."""
    allowed = False
    for pattern in spec.get("sourceRepos", []):
        if pattern.startswith("!"):
            if _glob(pattern[1:], url):
                return False
        elif _glob(pattern, url):
            allowed = True
    return allowed


def destination_permitted(spec: dict[str, Any], server: str, name: str, namespace: str) -> bool:
    """A destination (server and/or cluster name, namespace) matches a project destination and no negation."""
    allowed = False
    for dest in spec.get("destinations", []):
        d_server, d_name, d_ns = dest.get("server", ""), dest.get("name", ""), dest.get("namespace", "")
        deny = any(p.startswith("!") for p in (d_server, d_name, d_ns))
        server_ok = bool(d_server) and _glob(d_server.lstrip("!"), server)
        name_ok = bool(d_name) and bool(name) and _glob(d_name.lstrip("!"), name)
        ns_ok = _glob(d_ns.lstrip("!"), namespace) if d_ns else namespace == ""
        if deny:
            if (server_ok or name_ok) and ns_ok:
                return False
        elif (server_ok or name_ok) and ns_ok:
            allowed = True
    return allowed


def namespace_permitted(spec: dict[str, Any], app_ns: str, control_ns: str) -> bool:
    """An app namespace is allowed by the project's sourceNamespaces (the control plane's always is)."""
    if app_ns == control_ns:
        return True
    return any(_glob(p, app_ns) for p in spec.get("sourceNamespaces", []))

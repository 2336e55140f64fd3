"""ApplicationSet rendering: the Applications a set's generators produce (only `list` generators generate here).

Templates render with Go's text/template `{{.a.b}}` when `goTemplate` is set, else fasttemplate `{{a.b}}`
(`applicationset/utils/utils.go` `Render`).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

OWNER_API = "argoproj.io/v1alpha1"
GO_TAG = re.compile(r"\{\{-?\s*\.([A-Za-z_][\w.]*)\s*-?\}\}")
FAST_TAG = re.compile(r"\{\{([^{}]*)\}\}")


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out


def _go_lookup(params: dict[str, Any], path: str) -> str:
    value: Any = params
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return "<no value>"
        value = value[part]
    return value if isinstance(value, str) else json.dumps(value)


def substitute(node: Any, params: dict[str, Any], go: bool) -> Any:
    """Render every string in a template: `{{.a.b}}` with goTemplate, else fasttemplate `{{a.b}}`."""
    if isinstance(node, dict):
        return {k: substitute(v, params, go) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, params, go) for v in node]
    if not isinstance(node, str) or "{{" not in node:
        return node
    if go:
        return GO_TAG.sub(lambda m: _go_lookup(params, m.group(1)), node)
    flat = _flatten(params)
    return FAST_TAG.sub(lambda m: flat.get(m.group(1).strip(), m.group(0)), node)


def render(appset: dict[str, Any]) -> list[dict[str, Any]]:
    """The Applications a set generates; only `list` generators generate anything in the simulator."""
    spec = appset.get("spec", {})
    meta = appset["metadata"]
    owner = {
        "apiVersion": OWNER_API,
        "kind": "ApplicationSet",
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    out = []
    for generator in spec.get("generators", []):
        elements = (generator.get("list") or {}).get("elements") or []
        template = generator.get("template") or spec.get("template") or {}
        for element in elements:
            if not isinstance(element, dict):
                continue
            rendered = substitute(copy.deepcopy(template), element, bool(spec.get("goTemplate")))
            tmeta = rendered.get("metadata", {})
            app_meta = {k: tmeta[k] for k in ("labels", "annotations", "finalizers") if tmeta.get(k)}
            app_meta.update(name=tmeta.get("name", ""), namespace=meta["namespace"], ownerReferences=[owner])
            out.append({"metadata": app_meta, "spec": rendered.get("spec", {})})
    return out


def resources_of(generated: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "group": "argoproj.io",
            "version": "v1alpha1",
            "kind": "Application",
            **{"name": a["metadata"]["name"], "namespace": a["metadata"]["namespace"]},
        }
        for a in generated
    ]

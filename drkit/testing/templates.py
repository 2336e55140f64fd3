"""ApplicationSet rendering: the Applications a set's generators produce (only `list` generators generate here).

Templates render with Go's text/template `{{.a.b}}` when `goTemplate` is set, else fasttemplate `{{a.b}}`
(`applicationset/utils/utils.go` `Render`). A set's `spec.templatePatch` (from v2.10.0) is then rendered the same
way and applied to each generated app (`applicationset/controllers/template/template.go` `GenerateApplications`,
`patch.go` `applyTemplatePatch`): JSON (first non-space `{`) or YAML, decoded into an Application, applied as a
strategic merge patch, decoded again (unknown fields dropped), and `spec.project` put back as the template had
it. Of the strategic merge patch only what Application's types use is simulated: maps merge, `null` deletes,
lists are replaced, except `metadata.finalizers` (`patchStrategy:"merge"` in ObjectMeta: a union). An app whose
patch fails to render, parse or decode is not generated (the controller logs it and goes on). Conditionals and
functions of Go templates are not simulated, nor the `json+patch` form of later releases.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import yaml

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


Decode = Callable[[dict[str, Any]], dict[str, Any]]  # an Application as Argo CD's Go types hold it (gojson)


def render(appset: dict[str, Any], decode: Decode = lambda app: app) -> list[dict[str, Any]]:
    """The Applications a set generates; only `list` generators generate anything in the simulator.

    `decode` is what `json.Unmarshal` into an Application does to a patched app (the caller's release's types).
    """
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
            go = bool(spec.get("goTemplate"))
            rendered = substitute(copy.deepcopy(template), element, go)
            if spec.get("templatePatch"):
                rendered = patched(rendered, substitute(spec["templatePatch"], element, go), decode)
                if rendered is None:
                    continue
            tmeta = rendered.get("metadata", {})
            app_meta = {k: tmeta[k] for k in ("labels", "annotations", "finalizers") if tmeta.get(k)}
            app_meta.update(name=tmeta.get("name", ""), namespace=meta["namespace"], ownerReferences=[owner])
            out.append({"metadata": app_meta, "spec": rendered.get("spec", {})})
    return out


def patched(app: dict[str, Any], text: str, decode: Decode) -> dict[str, Any] | None:
    """`app` with a rendered templatePatch applied, as `applyTemplatePatch` does; None when Argo CD would fail it."""
    try:
        patch = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)  # ConvertYAMLToJSON
        if not isinstance(patch, dict):
            return None  # json.Unmarshal of a non-object into an Application fails
        decode(copy.deepcopy(patch))  # `invalid templatePatch`: it must decode into an Application
        out = decode(merge_patch(copy.deepcopy(app), patch))
    except (ValueError, yaml.YAMLError):  # gojson.DecodeError is a ValueError
        return None
    project = (app.get("spec") or {}).get("project")
    if project is not None:  # "Prevent changes to the `project` field"
        out.setdefault("spec", {})["project"] = project
    return out


def merge_patch(original: Any, patch: Any, path: str = "") -> Any:
    """A strategic merge patch of Application's types: maps merge, None deletes, lists replace (finalizers union)."""
    if not isinstance(patch, dict) or not isinstance(original, dict):
        if path == "metadata.finalizers" and isinstance(original, list) and isinstance(patch, list):
            return original + [f for f in patch if f not in original]
        return patch
    for key, value in patch.items():
        if value is None:
            original.pop(key, None)
        elif key in original:
            original[key] = merge_patch(original[key], value, f"{path}.{key}" if path else key)
        else:
            original[key] = value
    return original


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

"""Simulated Argo CD endpoints: ApplicationSets, template rendering, label selectors and the watch streams."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from drkit.testing import applications as apps
from drkit.testing.gateway import INVALID_ARGUMENT, NOT_FOUND, UNKNOWN, GrpcError, Request, Response

KEEPALIVE_SECONDS = 15.0
OWNER_API = "argoproj.io/v1alpha1"
GO_TAG = re.compile(r"\{\{-?\s*\.([A-Za-z_][\w.]*)\s*-?\}\}")
FAST_TAG = re.compile(r"\{\{([^{}]*)\}\}")
SET_TERM = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
KEY = re.compile(r"^[\w./-]+$")


# label selectors (k8s.io/apimachinery labels.Parse, the common subset) ----------------------------------


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


# watch streams (§2.2, §6.28-29) -------------------------------------------------------------------------


def respond(
    sim: Any,
    req: Request,
    kind: str,
    payload: str,
    seq: int,
    initial: list[dict[str, Any]],
    match: Callable[[dict[str, Any]], bool],
) -> Response:
    """A chunked NDJSON (or SSE with `Accept: text/event-stream`) stream of watch events from journal `seq` on."""
    sse = "text/event-stream" in req.headers.get("accept", "")
    content_type = "text/event-stream" if sse else "application/json"
    events = _events(sim, kind, payload, seq, initial, match, sse)
    return Response(headers={"Content-Type": content_type}, stream=events)


def _events(
    sim: Any,
    kind: str,
    payload: str,
    seq: int,
    initial: list[dict[str, Any]],
    match: Callable[[dict[str, Any]], bool],
    sse: bool,
) -> Iterator[bytes]:
    last: dict[str, bytes] = {}  # dedup key is the name only, as in Argo CD

    def frame(event: str, obj: dict[str, Any]) -> bytes:
        line = json.dumps({"result": {"type": event, payload: obj}}, separators=(",", ":")).encode()
        name = obj["metadata"]["name"]
        if last.get(name) == line:
            return b""
        last[name] = line
        return b"data: " + line + b" \n\n\n" if sse else line + b"\n"

    first = b"".join(frame("ADDED", obj) for obj in initial)
    if first:
        yield first
    quiet_since = time.monotonic()
    while not sim._stopping.is_set():
        with sim.changed:
            newest, entries = sim.events_since(seq)
            if not entries:
                sim.changed.wait(1.0)
                newest, entries = sim.events_since(seq)
        seq = newest
        chunk = b"".join(frame(event, obj) for _, k, event, obj in entries if k == kind and match(obj))
        if chunk:
            quiet_since = time.monotonic()
            yield chunk
        elif sse and time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield b":\n"


# rendering (list generator only) -------------------------------------------------------------------------


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


# handlers -------------------------------------------------------------------------------------------------


def _rbac(sim: Any, appset: dict[str, Any]) -> str:
    project = appset.get("spec", {}).get("template", {}).get("spec", {}).get("project") or "default"
    meta = appset["metadata"]
    return apps.rbac_name(sim, project, meta["namespace"], meta.get("name", ""))


def _same(existing: dict[str, Any], body: dict[str, Any]) -> bool:
    old, new = existing["metadata"], body.get("metadata", {})
    return existing.get("spec") == body.get("spec") and all(
        (old.get(k) or None) == (new.get(k) or None) for k in ("labels", "annotations", "finalizers")
    )


def _write(sim: Any, key: tuple[str, str], new: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Stamp, store and announce an ApplicationSet write; call with the lock held."""
    sim.stamp(new, previous)
    sim.applicationsets[key] = new
    sim.emit("appset", "MODIFIED" if previous else "ADDED", new)
    sim.pending.add(("appset", key))
    return new


def delete_set(sim: Any, key: tuple[str, str]) -> None:
    """Remove a set; Kubernetes GC deletes its Applications, non-cascading with preserveResourcesOnDeletion."""
    appset = sim.applicationsets.pop(key)
    gone = copy.deepcopy(appset)
    gone["metadata"]["resourceVersion"] = sim.next_rv()
    sim.emit("appset", "DELETED", gone)
    uid = appset["metadata"].get("uid")
    preserve = bool((appset["spec"].get("syncPolicy") or {}).get("preserveResourcesOnDeletion"))
    owned = [
        k
        for k, a in sim.applications.items()
        if uid in {o.get("uid") for o in a["metadata"].get("ownerReferences", [])}
    ]
    for app_key in owned:
        apps.delete_app(sim, app_key, False if preserve else None, "")


def handlers(sim: Any) -> dict[str, Any]:
    """The ApplicationSetService operations."""

    def get_set(name: str, namespace: str) -> dict[str, Any]:
        with sim.lock:
            appset = sim.applicationsets.get((namespace or sim.namespace, name))
        if appset is None:
            raise GrpcError(NOT_FOUND, f'applicationsets.argoproj.io "{name}" not found')
        return appset

    def list_sets(req: Request) -> Any:
        namespace = req.arg("appsetNamespace") or sim.namespace
        projects, selector = set(req.args("projects")), parse_selector(req.arg("selector"))
        with sim.lock:
            sets = [s for (ns, _), s in sorted(sim.applicationsets.items()) if ns == namespace]
            rv = str(sim._rv)
        items = [
            s
            for s in sets
            if (not projects or s["spec"].get("template", {}).get("spec", {}).get("project") in projects)
            and selector(s["metadata"].get("labels") or {})
            and sim.allowed(req.subject, "applicationsets", "get", _rbac(sim, s))
        ]
        return {"metadata": {"resourceVersion": rv}, "items": items}

    def get(req: Request) -> Any:
        appset = get_set(req.params["name"], req.arg("appsetNamespace"))
        sim.enforce(req, "applicationsets", "get", _rbac(sim, appset))
        return appset

    def create(req: Request) -> Any:
        body = req.body or {}
        meta = body.setdefault("metadata", {})
        namespace = meta["namespace"] = meta.get("namespace") or sim.namespace
        project = body.get("spec", {}).get("template", {}).get("spec", {}).get("project") or "default"
        if "{{" in project:
            raise GrpcError(
                UNKNOWN,
                "the Argo CD API does not currently support creating ApplicationSets with templated project fields",
            )
        if any(not generator for generator in body.get("spec", {}).get("generators") or []):
            # validateAppSet -> utils.CheckInvalidGenerators: a generator with no type set; a plain error, so 500
            raise GrpcError(
                UNKNOWN,
                f"error validating ApplicationSets: ApplicationSet {meta.get('name', '')} contains "
                "unrecognized generators",
            )
        if not apps.enabled(sim, namespace):
            raise GrpcError(UNKNOWN, f"namespace '{namespace}' is not permitted")
        sim.enforce(req, "applicationsets", "create", _rbac(sim, body))
        with sim.lock:
            if project not in sim.projects:
                raise GrpcError(INVALID_ARGUMENT, f"ApplicationSet references project {project} which does not exist")
        stored = {
            "metadata": {k: v for k, v in meta.items() if k in apps.USER_META and v},
            "spec": body.get("spec", {}),
        }
        if req.flag("dryRun"):
            preview = copy.deepcopy(stored)
            preview["status"] = {"resources": resources_of(render(preview))}
            return preview
        if not meta.get("name"):  # kube-apiserver validation: Invalid, hence InvalidArgument
            raise GrpcError(
                INVALID_ARGUMENT,
                'ApplicationSet.argoproj.io "" is invalid: metadata.name: Required value: '
                "name or generateName is required",
            )
        key = (namespace, meta["name"])
        with sim.lock:
            existing = sim.applicationsets.get(key)
            if existing is None:
                return _write(sim, key, stored, None)
            if _same(existing, body):
                return existing
            if not req.flag("upsert"):
                raise GrpcError(
                    INVALID_ARGUMENT, "existing ApplicationSet spec is different, use upsert flag to force update"
                )
        sim.enforce(req, "applicationsets", "update", _rbac(sim, body))
        with sim.lock:
            existing = sim.applicationsets.get(key) or existing
            new = copy.deepcopy(existing)
            new["spec"] = stored["spec"]
            for field in ("labels", "annotations"):
                merged = {**(existing["metadata"].get(field) or {}), **(meta.get(field) or {})}
                if merged:
                    new["metadata"][field] = merged
            apps._set_or_drop(new["metadata"], "finalizers", meta.get("finalizers"))
            return _write(sim, key, new, existing)

    def delete(req: Request) -> Any:
        appset = get_set(req.params["name"], req.arg("appsetNamespace"))
        sim.enforce(req, "applicationsets", "delete", _rbac(sim, appset))
        with sim.lock:
            key = (appset["metadata"]["namespace"], appset["metadata"]["name"])
            if key in sim.applicationsets:
                delete_set(sim, key)
        return {}

    def generate(req: Request) -> Any:
        appset = copy.deepcopy((req.body or {}).get("applicationSet") or {})
        appset.setdefault("metadata", {}).setdefault("namespace", sim.namespace)
        appset["metadata"].setdefault("name", "")
        sim.enforce(req, "applicationsets", "create", _rbac(sim, appset))
        return {"applications": render(appset)}

    def watch(req: Request) -> Response:
        name, namespace = req.arg("name"), req.arg("appSetNamespace")
        projects, selector = set(req.args("projects")), parse_selector(req.arg("selector"))
        since = int(req.arg("resourceVersion") or 0)

        def match(appset: dict[str, Any]) -> bool:
            meta = appset["metadata"]
            if name and (meta["name"] != name or meta["namespace"] != (namespace or sim.namespace)):
                return False
            project = appset["spec"].get("template", {}).get("spec", {}).get("project")
            if projects and project not in projects:
                return False
            return selector(meta.get("labels") or {}) and sim.allowed(
                req.subject, "applicationsets", "get", _rbac(sim, appset)
            )

        with sim.lock:
            seq = sim._seq
            initial = [s for _, s in sorted(sim.applicationsets.items()) if name and match(s)]
            initial = [s for s in initial if int(s["metadata"]["resourceVersion"]) >= since]
        return respond(sim, req, "appset", "applicationSet", seq, initial, match)

    return {
        "ApplicationSetService_List": list_sets,
        "ApplicationSetService_Get": get,
        "ApplicationSetService_Create": create,
        "ApplicationSetService_Delete": delete,
        "ApplicationSetService_Generate": generate,
        "ApplicationSetService_Watch": watch,
    }

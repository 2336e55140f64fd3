"""Generate drkit's JSON Schemas (drkit/schemas/v1/*.json) from Argo CD's CRDs and swagger.json.

ConfigMaps and Secrets (`--kube`) follow Kubernetes' core/v1 API reference (ConfigMap, Secret: `data`,
`binaryData`, `type`, `immutable`; keys of `[-._a-zA-Z0-9]+`), written out here as there is no CRD for them.

Run from anywhere: `python schemas/generate.py` writes the files; `--check` exits 1 when the committed files
differ from what the reference data gives. The reference data is read from `../shared/reference/argocd/`
relative to the project root.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from drkit.argocd.kinds import RESTORE_ORDER
from drkit.kube.kinds import KUBE_KINDS, SECRET_TYPE_LABEL

KINDS = (*RESTORE_ORDER, *KUBE_KINDS)  # every stored kind: Argo CD's eight, then the ConfigMaps and Secrets of --kube

try:  # libyaml parses the 380 KB ApplicationSet CRD in well under a second; the pure-Python loader takes ~10 s
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as Loader  # type: ignore[assignment]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = PROJECT_ROOT.parent / "shared" / "reference" / "argocd"
OUT = PROJECT_ROOT / "drkit" / "schemas" / "v1"  # package data: an uninstalled checkout validates too
FORMAT_VERSION = 1
DIALECT = "https://json-schema.org/draft/2020-12/schema"


# Kubernetes object names: a DNS-1123 subdomain, which is what the API server enforces for custom resources.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

CRDS = {
    "applications": ("application-crd.yaml", "Application", True),
    "applicationsets": ("applicationset-crd.yaml", "ApplicationSet", False),
    "projects": ("appproject-crd.yaml", "AppProject", False),
}

# Keywords copied as they are from OpenAPI v3 / Swagger 2.0 into JSON Schema (everything else is dropped:
# descriptions, titles, x-kubernetes-* extensions; the CRD and swagger.json are the documentation).
KEPT = (
    "required",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
)
NUMERIC_FORMATS = {"int32", "int64", "float", "double", "byte"}

# `false` would say the same, but jsonschema (4.26) reports a `false` subschema without its path.
FORBIDDEN = {"not": {}, "$comment": "a secret or server-owned field: drkit never stores it"}

SECRET_REPO_FIELDS = (
    "password",
    "sshPrivateKey",
    "bearerToken",
    "tlsClientCertKey",
    "githubAppPrivateKey",
    "gcpServiceAccountKey",
    "azureServicePrincipalClientSecret",
)


def convert(node: dict[str, Any], definitions: dict[str, Any] | None = None) -> dict[str, Any]:
    """Convert one OpenAPI v3 (CRD) or Swagger 2.0 schema node to JSON Schema, inlining `$ref`s."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return convert((definitions or {})[name], definitions)
    out: dict[str, Any] = {key: copy.deepcopy(node[key]) for key in KEPT if key in node}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    elif "type" in node:
        out["type"] = node["type"]
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [convert(sub, definitions) for sub in node["anyOf"]]
    fmt = node.get("format")
    if fmt and fmt not in NUMERIC_FORMATS:
        out["format"] = fmt  # an annotation (date-time): not asserted, as Kubernetes stores it as a string
    if node.get("nullable") and "type" in out:
        out["type"] = _with_null(out["type"])
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in node:
        # Kubernetes prunes a null field that is not `nullable` before validating it, so null is accepted.
        out["properties"] = {name: _nullable(convert(sub, definitions)) for name, sub in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = convert(node["items"], definitions)
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = convert(node["additionalProperties"], definitions)
    elif node.get("additionalProperties") is False:
        out["additionalProperties"] = False
    return out


def _with_null(types: str | list[str]) -> list[str]:
    listed = [types] if isinstance(types, str) else list(types)
    return listed if "null" in listed else [*listed, "null"]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema:
        schema["type"] = _with_null(schema["type"])
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    return schema


def metadata_schema(owner_references: bool) -> dict[str, Any]:
    """The drkit envelope's metadata: what normalize keeps, nothing the server owns."""
    strings = {"type": "object", "additionalProperties": {"type": "string"}}
    props: dict[str, Any] = {
        "name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN},
        "namespace": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS_LABEL},
        "labels": strings,
        "annotations": strings,
        "finalizers": {"type": "array", "items": {"type": "string"}},
    }
    if owner_references:
        ref = {"type": "string"}
        flag = {"type": "boolean"}
        props["ownerReferences"] = {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["apiVersion", "kind", "name"],
                "properties": {
                    "apiVersion": ref,
                    "kind": ref,
                    "name": ref,
                    "uid": ref,
                    "controller": flag,
                    "blockOwnerDeletion": flag,
                },
            },
        }
    return {"type": "object", "required": ["name"], "additionalProperties": False, "properties": props}


def crd_schema(reference: Path, kind: str) -> dict[str, Any]:
    """The schema of one stored CRD object: the CRD's own, with drkit's envelope tightened."""
    filename, crd_kind, owner_references = CRDS[kind]
    crd = yaml.load((reference / filename).read_text(encoding="utf-8"), Loader=Loader)
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema = convert(version["schema"]["openAPIV3Schema"])
    props = schema["properties"]
    props["apiVersion"] = {"const": f"{crd['spec']['group']}/{version['name']}"}
    props["kind"] = {"const": crd_kind}
    props["metadata"] = metadata_schema(owner_references)
    props["spec"]["type"] = "object"  # the one field the envelope requires may not be null
    props["status"] = dict(FORBIDDEN)
    props["operation"] = dict(FORBIDDEN)
    schema["required"] = sorted({"apiVersion", "kind", "metadata", "spec", *schema.get("required", [])})
    return _document(kind, schema, f"Argo CD {crd_kind} as drkit stores it: {filename} without status/operation")


def swagger_schema(definitions: dict[str, Any], name: str) -> dict[str, Any]:
    return convert(definitions[name], definitions)


def forbid(schema: dict[str, Any], path: str) -> None:
    """Make a dotted field path invalid whatever its value: a secret or server-owned field."""
    *parents, leaf = path.split(".")
    node = schema
    for part in parents:
        node = node["properties"][part]
    node.setdefault("properties", {})[leaf] = dict(FORBIDDEN)


def identity(schema: dict[str, Any], *fields: str) -> None:
    """Require the fields that identify an object, as non-empty strings."""
    schema["required"] = sorted({*schema.get("required", []), *fields})
    for field in fields:
        schema["properties"][field] = {"type": "string", "minLength": 1}


def api_schemas(reference: Path) -> dict[str, dict[str, Any]]:
    """Schemas of the five kinds stored as the API returns them (already redacted)."""
    definitions = json.loads((reference / "swagger.json").read_text(encoding="utf-8"))["definitions"]
    repo = swagger_schema(definitions, "v1alpha1Repository")
    creds = swagger_schema(definitions, "v1alpha1RepoCreds")
    for schema in (repo, creds):
        for field in (*SECRET_REPO_FIELDS, "connectionState"):
            forbid(schema, field)
    identity(repo, "repo")
    identity(creds, "url")
    cluster = swagger_schema(definitions, "v1alpha1Cluster")
    for field in (
        "config.password",
        "config.bearerToken",
        "config.tlsClientConfig.keyData",
        "config.tlsClientConfig.certData",
        "config.tlsClientConfig.caData",
        "config.execProviderConfig",
        "info",
        "serverVersion",
        "connectionState",
    ):
        forbid(cluster, field)
    identity(cluster, "server")
    cert = swagger_schema(definitions, "v1alpha1RepositoryCertificate")
    cert["properties"]["certData"] = {"type": "null"}  # the API never returns it; a value is a bug or a leak
    identity(cert, "serverName", "certType", "certSubType")
    cert["properties"]["certType"]["enum"] = ["https", "ssh"]
    gpg = swagger_schema(definitions, "v1alpha1GnuPGPublicKey")
    identity(gpg, "keyID", "keyData")
    return {
        "repositories": _document("repositories", repo, "Argo CD Repository as the API returns it, redacted"),
        "repocreds": _document("repocreds", creds, "Argo CD RepoCreds as the API lists them, redacted"),
        "clusters": _document("clusters", cluster, "Argo CD Cluster as the API returns it, sanitised"),
        "certificates": _document("certificates", cert, "Argo CD RepositoryCertificate as listed (no certData)"),
        "gpgkeys": _document("gpgkeys", gpg, "Argo CD GnuPGPublicKey as GET-one returns it, with keyData"),
    }


KUBE_KEY = {"type": "string", "pattern": r"^[-._a-zA-Z0-9]+$", "maxLength": 253}
BASE64 = {"type": "string", "pattern": r"^[A-Za-z0-9+/]*={0,2}$"}


def kube_schemas() -> dict[str, dict[str, Any]]:
    """ConfigMap and Secret as a --kube backup keeps them: core/v1 fields, metadata the server owns stripped."""

    def schema(api_kind: str, properties: dict[str, Any]) -> dict[str, Any]:
        metadata = {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "namespace"],
            "properties": {
                "name": {"type": "string", "pattern": DNS_SUBDOMAIN, "maxLength": 253},
                "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["apiVersion", "kind", "metadata"],
            "properties": {
                "apiVersion": {"const": "v1"},
                "kind": {"const": api_kind},
                "metadata": metadata,
                "immutable": {"type": "boolean"},
                **properties,
            },
        }

    strings = {"type": "object", "propertyNames": KUBE_KEY, "additionalProperties": {"type": "string"}}
    encoded = {"type": "object", "propertyNames": KUBE_KEY, "additionalProperties": BASE64}
    configmap = schema("ConfigMap", {"data": strings, "binaryData": encoded})
    # stringData is write-only (the API server folds it into data): a stored one would be a leak or a bug
    secret = schema("Secret", {"type": {"type": "string", "minLength": 1}, "data": encoded, "stringData": FORBIDDEN})
    secret["$comment"] = f"argocd.argoproj.io Secrets: argocd-secret, {SECRET_TYPE_LABEL}-labelled, referenced"
    return {
        "configmaps": _document("configmaps", configmap, "Kubernetes ConfigMap of Argo CD's namespace (--kube)"),
        "secrets": _document("secrets", secret, "Kubernetes Secret of Argo CD's namespace (--kube), sealed at rest"),
    }


def manifest_schema() -> dict[str, Any]:
    """drkit's own manifest.yaml, written last in each backup: strict."""
    kinds = "|".join(KINDS)
    text = {"type": "string"}
    count = {"type": "integer", "minimum": 0}
    timestamp = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"}
    entry = {
        "type": "object",
        "additionalProperties": False,
        "required": ["key", "kind", "name", "size", "sha256"],
        "properties": {
            # <kind>/<file>.yaml, maybe with sub-folders; no segment starts with a dot (so no `..`), no backslash
            "key": {"type": "string", "pattern": rf"^({kinds})/([^/\\.][^/\\]*/)*[^/\\.][^/\\]*\.yaml$"},
            "kind": {"enum": list(KINDS)},
            "name": {"type": "string", "minLength": 1},
            "size": count,
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
    }
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "formatVersion",
            "drkitVersion",
            "argocdVersion",
            "instance",
            "server",
            "backupId",
            "startedAt",
            "finishedAt",
            "complete",
            "counts",
            "objects",
            "warnings",
        ],
        "properties": {
            "formatVersion": {"const": FORMAT_VERSION},
            "drkitVersion": {"type": "string", "minLength": 1},
            "argocdVersion": text,
            "instance": {"type": "string", "minLength": 1, "pattern": r"^[^/\\]+$"},
            "server": text,
            "backupId": {"type": "string", "pattern": r"^[^/\\.\s][^/\\\s]*$"},
            "startedAt": timestamp,
            "finishedAt": timestamp,
            "complete": {"type": "boolean"},
            "suspicious": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "required": ["reason", "previousCount", "count"],
                "properties": {"reason": text, "previousCount": count, "count": count},
            },
            "counts": {
                "type": "object",
                "additionalProperties": False,
                "properties": {kind: count for kind in KINDS},
            },
            "objects": {"type": "array", "items": entry},
            "warnings": {"type": "array", "items": text},
            # `<kind>.<field>` the source's lists leave out although the objects have them (drkit.argocd.sources)
            "sourceHides": {"type": "array", "items": {"type": "string", "pattern": rf"^({kinds})\.[A-Za-z]+$"}},
            "argocdSettings": settings_schema(),
            # --kube: the namespace the ConfigMaps and Secrets were read from, and whether Secrets are in the backup
            "kube": {
                "type": "object",
                "additionalProperties": False,
                "required": ["namespace", "secrets"],
                "properties": {
                    "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
                    "secrets": {"enum": ["stored", "skipped"]},
                },
            },
            # client-side encryption (drkit.backup.sealing): the scheme and what reading needs besides the key
            "encryption": {
                "type": "object",
                "additionalProperties": False,
                "required": ["scheme"],
                "properties": {
                    "scheme": {"enum": ["age", "kms"]},
                    "recipient": {"type": "string", "pattern": "^age1[0-9a-z]+$"},
                    "keyId": {"type": "string", "minLength": 1},
                    "wrappedKey": {"type": "string", "pattern": "^[A-Za-z0-9+/]+=*$"},
                },
            },
            "sealed": {"type": "string", "pattern": "^[A-Za-z0-9+/]+=*$"},  # base64 of the sealed server and warnings
            "signature": {  # drkit.backup.signing: a MAC over the rest of the manifest
                "type": "object",
                "additionalProperties": False,
                "required": ["scheme", "mac"],
                "properties": {
                    "scheme": {"enum": ["hmac-sha256", "kms-hmac-sha256"]},
                    "mac": {"type": "string", "pattern": "^[A-Za-z0-9+/]+=*$"},
                },
            },
        },
    }
    return _document("manifest", schema, "drkit backup manifest, format version 1")


def settings_schema() -> dict[str, Any]:
    """The `/api/v1/settings` fields that change what a sync does (drkit.argocd.settings); no secrets among them."""
    flag, word = {"type": "boolean"}, {"type": "string"}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "trackingMethod": {"enum": ["label", "annotation", "annotation+label"]},
            "appLabelKey": word,
            # ResourceOverride: healthLua, useOpenLibs, actions, ignoreDifferences, knownTypeFields, ...
            "resourceOverrides": {"type": "object", "additionalProperties": {"type": "object"}},
            # KustomizeOptions has no JSON tags (v3.5.1 types.go): Go's field names, BuildOptions and BinaryPath
            "kustomizeOptions": {"type": "object", "additionalProperties": word},
            "kustomizeVersions": {"type": "array", "items": word},
            "impersonationEnabled": flag,
            "appsInAnyNamespaceEnabled": flag,
            "hydratorEnabled": flag,
            "syncWithReplaceAllowed": flag,
        },
    }


def drill_schema() -> dict[str, Any]:
    """drkit's drill record, `<instance>/drills/<id>.yaml`: what one restore drill proved, and how fast."""
    count = {"type": "integer", "minimum": 0}
    seconds = {"type": "number", "minimum": 0}
    timestamp = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}
    backup_id = {"type": "string", "pattern": r"^\d{8}T\d{6}Z-[0-9a-z-]+$"}

    def closed(properties: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}

    schema = closed(
        {
            "formatVersion": {"const": FORMAT_VERSION},
            "drillId": backup_id,
            "instance": {"type": "string", "minLength": 1, "pattern": r"^[^/\\]+$"},
            "backupId": backup_id,
            "target": {"type": "string", "minLength": 1},
            "startedAt": timestamp,
            "finishedAt": timestamp,
            "recoverySeconds": seconds,
            "phases": closed({"load": seconds, "apply": seconds, "converge": seconds}),
            "objects": closed(
                {"restored": count, "identical": count, "failed": count, "compared": count, "skipped": count}
            ),
            "apps": closed({"healthy": count, "failed": count}),
            "differences": {"type": "array", "items": {"type": "string"}},
            "exitCode": {"enum": [0, 1, 2, 3]},
        }
    )
    return _document("drill", schema, "drkit restore drill record, format version 1")


def _document(name: str, schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {"$schema": DIALECT, "$id": f"urn:drkit:schema:v{FORMAT_VERSION}:{name}", "title": title, **schema}


def build(reference: Path = REFERENCE) -> dict[str, str]:
    """Every schema file's name and its exact text (pretty, sorted keys, stable)."""
    schemas = {kind: crd_schema(reference, kind) for kind in CRDS}
    schemas.update(api_schemas(reference))
    schemas.update(kube_schemas())
    schemas["manifest"] = manifest_schema()
    schemas["drill"] = drill_schema()
    return {f"{name}.json": json.dumps(schemas[name], indent=2, sort_keys=True) + "\n" for name in sorted(schemas)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=REFERENCE, help="folder with the CRDs and swagger.json")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the schemas")
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    args = parser.parse_args(argv)
    files = build(args.reference)
    if args.check:
        stale = [n for n, t in files.items() if not (args.out / n).exists() or (args.out / n).read_text() != t]
        for name in stale:
            print(f"{args.out / name} is out of date; run python schemas/generate.py", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tests of backup.schema and the generated drkit/schemas/v1: Argo CD's own objects pass, secrets and drift do not."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.backup import schema
from drkit.errors import SchemaError

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference" / "argocd"
EXAMPLES = REFERENCE / "examples"
STORED_KINDS = {"Application": "applications", "ApplicationSet": "applicationsets", "AppProject": "projects"}
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
# Design documents written before the CRD required a template's `project` and a git generator's `revision`: the
# Kubernetes API server refuses them too, so the schema must, with exactly these problems.
PROJECT = "spec.template.spec: 'project' is a required property"
REVISION = "spec.generators[{}].git: 'revision' is a required property"
REFUSED_BY_THE_CRD = {
    "applicationset/examples/design-doc/applicationset.yaml": [PROJECT],
    "applicationset/examples/design-doc/git-directory-discovery.yaml": [REVISION.format(0), PROJECT],
    "applicationset/examples/design-doc/git-files-discovery.yaml": [REVISION.format(0), PROJECT],
    "applicationset/examples/design-doc/git-files-literal.yaml": [REVISION.format(0), PROJECT],
    "applicationset/examples/design-doc/proposal/filters.yaml": [REVISION.format(1), PROJECT],
}
REFUSED_BY_THE_CRD.update(
    {k.replace(".yaml", "-fasttemplate.yaml"): v for k, v in list(REFUSED_BY_THE_CRD.items())[:4]}
)
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"Argo CD reference data absent: {REFERENCE}")


class KubeLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it (sigs.k8s.io/yaml): timestamps stay strings."""


KubeLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _example_files() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.yaml")) if EXAMPLES.is_dir() else []


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    """An example as drkit would store it: no status, operation or server-owned metadata."""
    doc = {k: v for k, v in doc.items() if k not in ("status", "operation")}
    meta = {k: v for k, v in doc["metadata"].items() if k not in SERVER_METADATA}
    if doc["kind"] != "Application":
        meta.pop("ownerReferences", None)
    return {**doc, "metadata": meta}


@needs_reference
@pytest.mark.parametrize("path", _example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_argocd_examples_validate(path: Path) -> None:
    try:
        docs = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=KubeLoader) if d]
    except yaml.YAMLError:
        # test/e2e/testdata/declarative-apps/{app,invalid-helm}.yaml are invalid YAML on purpose (Argo CD's own
        # error-path tests); nothing could store them.
        pytest.skip("not valid YAML (deliberately, upstream)")
    stored = [d for d in docs if isinstance(d, dict) and d.get("kind") in STORED_KINDS]
    if not stored:
        pytest.skip("no Application, ApplicationSet or AppProject in this file")
    for doc in stored:
        if not doc.get("metadata", {}).get("name"):
            # gitops-engine's health fixtures are bare status blocks: Kubernetes itself would refuse them.
            continue
        expected = REFUSED_BY_THE_CRD.get(str(path.relative_to(EXAMPLES)), [])
        assert schema.problems(STORED_KINDS[doc["kind"]], _stored(doc)) == expected, path


@needs_reference
def test_examples_cover_every_crd_kind() -> None:
    seen = set()
    for path in _example_files():
        try:
            seen |= {d.get("kind") for d in yaml.load_all(path.read_text(), Loader=KubeLoader) if isinstance(d, dict)}
        except yaml.YAMLError:
            continue
    assert set(STORED_KINDS) <= seen


@needs_reference
def test_regenerating_gives_the_committed_files() -> None:
    spec = importlib.util.spec_from_file_location("schemas_generate", ROOT / "schemas" / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    built = generate.build(REFERENCE)
    committed = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "drkit" / "schemas" / "v1").glob("*.json")}
    assert sorted(built) == sorted(committed)
    for name, text in built.items():
        assert text == committed[name], f"drkit/schemas/v1/{name} drifted: run python schemas/generate.py"


# --- CRD kinds -----------------------------------------------------------------------------------------------


def app(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps", "path": "guestbook"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
            **spec,
        },
    }


def test_a_plain_application_validates() -> None:
    schema.validate("applications", app(), "applications/argocd/guestbook")


def test_a_value_json_has_no_type_for_is_named_not_raised() -> None:
    # YAML reads an unquoted timestamp as a datetime, which the compiled validator cannot take: jsonschema's
    # reading of it names the field and what it must be
    doc = yaml.safe_load("metadata:\n  name: guestbook\n  namespace: argocd\n  labels: {since: 2024-01-01T00:00:00Z}\n")
    full = app()
    full["metadata"] = doc["metadata"]
    assert schema.problems("applications", full) == ["metadata.labels.since: is datetime, must be string"]


def test_the_compiled_validator_and_jsonschema_agree() -> None:
    valid, broken = app(), app(destination={"server": 1})
    for doc in (valid, broken):
        assert schema._fast_valid("applications", doc, 1) == schema._validator("applications", 1).is_valid(doc)
    assert not schema._fast_valid("applications", broken, 1)


def test_crd_openness_is_kept() -> None:
    doc = app(someFutureField={"x": 1})
    doc["spec"]["source"]["helm"] = {"valuesObject": {"any": ["thing", 1, None]}}
    doc["spec"]["syncPolicy"] = {"retry": {"limit": 5, "backoff": {"duration": "5s", "maxDuration": "3m"}}}
    doc["spec"]["source"]["kustomize"] = {"replicas": [{"name": "a", "count": 3}, {"name": "b", "count": "4"}]}
    doc["spec"]["revisionHistoryLimit"] = None  # Kubernetes prunes a null field rather than rejecting it
    assert schema.problems("applications", doc) == []


def test_crd_types_and_required_fields_are_checked() -> None:
    doc = app(destination={"namespace": "x"}, source={"repoURL": 42}, syncPolicy={"retry": {"limit": "five"}})
    del doc["spec"]["project"]
    found = schema.problems("applications", doc)
    assert "spec: 'project' is a required property" in found
    assert "spec.source.repoURL: is integer, must be string or null" in found
    assert "spec.syncPolicy.retry.limit: is string, must be integer or null" in found


def test_the_envelope_is_tight() -> None:
    doc = app()
    doc.update(status={"sync": {}}, operation={"sync": {}}, apiVersion="argoproj.io/v1", kind="AppProject")
    doc["metadata"].update(uid="1234", name="Not_A_Name")
    found = schema.problems("applications", doc)
    assert found == [
        'apiVersion: must be "argoproj.io/v1alpha1"',
        'kind: must be "Application"',
        "metadata: unexpected field(s) 'uid'",
        "metadata.name: does not match the pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        "operation: must not be stored in a backup (a secret or server-owned field)",
        "status: must not be stored in a backup (a secret or server-owned field)",
    ]
    missing = schema.problems("projects", {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject"})
    assert missing == ["(document): 'metadata' is a required property", "(document): 'spec' is a required property"]


def test_only_applications_keep_owner_references() -> None:
    owner = [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "team", "controller": True}]
    doc = app()
    doc["metadata"]["ownerReferences"] = owner
    assert schema.problems("applications", doc) == []
    appset = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "spec": {"generators": [], "template": {}},
    }
    appset["metadata"] = {"name": "team", "ownerReferences": owner}
    assert "metadata: unexpected field(s) 'ownerReferences'" in schema.problems("applicationsets", appset)


def test_validate_names_the_object_and_the_next_step() -> None:
    doc = app(destination={"namespace": "x", "server": 7})
    with pytest.raises(SchemaError) as caught:
        schema.validate("applications", doc, "applications/argocd/guestbook")
    assert str(caught.value) == (
        "applications/argocd/guestbook: invalid document: spec.destination.server: is integer, must be string or "
        "null; fix or remove this object from the backup, or restore without it (--kinds/--app)"
    )


def test_long_problem_lists_are_cut() -> None:
    doc = {"apiVersion": 1, "kind": 2, "metadata": {"name": 3, "namespace": 4, "labels": 5}, "spec": {}}
    with pytest.raises(SchemaError) as caught:
        schema.validate("projects", doc, "projects/x")
    assert "(and 2 more)" in str(caught.value)
    assert len(schema.problems("projects", doc)) == 5


# --- API kinds: secrets never pass -----------------------------------------------------------------------------

SECRET = "s3cr3t-VALUE-never-printed"
REPO_SECRETS = ("password", "sshPrivateKey", "bearerToken", "tlsClientCertKey", "githubAppPrivateKey",
                "gcpServiceAccountKey", "azureServicePrincipalClientSecret")  # fmt: skip
TLS = "config.tlsClientConfig"
CLUSTER_SECRETS = ("config.password", "config.bearerToken", f"{TLS}.keyData", f"{TLS}.certData", f"{TLS}.caData",
                   "config.execProviderConfig")  # fmt: skip


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, leaf = path.split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return doc


def _rejected_without_value(kind: str, doc: dict[str, Any], path: str) -> None:
    with pytest.raises(SchemaError) as caught:
        schema.validate(kind, doc, f"{kind}/x")
    message = str(caught.value)
    assert f"{path}: must not be stored in a backup" in message
    assert SECRET not in message and SECRET not in repr(caught.value)
    assert all(SECRET not in p for p in schema.problems(kind, doc))


@pytest.mark.parametrize(
    "kind,base", [("repositories", {"repo": "https://g/x.git"}), ("repocreds", {"url": "https://g"})]
)
@pytest.mark.parametrize("field", REPO_SECRETS)
def test_repository_secrets_are_rejected_by_path(kind: str, base: dict[str, Any], field: str) -> None:
    assert schema.problems(kind, {**base, "type": "git", "username": "bot"}) == []
    _rejected_without_value(kind, _with(base, field, SECRET), field)


@pytest.mark.parametrize("path", CLUSTER_SECRETS)
def test_cluster_secrets_are_rejected_by_path(path: str) -> None:
    cluster = {"server": "https://10.0.0.1:6443", "name": "prod", "config": {"tlsClientConfig": {"insecure": False}}}
    assert schema.problems("clusters", cluster) == []
    value = {"command": SECRET} if path.endswith("execProviderConfig") else SECRET
    _rejected_without_value("clusters", _with(cluster, path, value), path)


@pytest.mark.parametrize(
    "kind,doc,field",
    [
        ("repositories", {"repo": "r"}, "connectionState"),
        ("clusters", {"server": "s"}, "connectionState"),
        ("clusters", {"server": "s"}, "info"),
        ("clusters", {"server": "s"}, "serverVersion"),
    ],
)
def test_server_owned_api_fields_are_rejected(kind: str, doc: dict[str, Any], field: str) -> None:
    assert schema.problems(kind, _with(doc, field, {"status": "Successful"})) == [
        f"{field}: must not be stored in a backup (a secret or server-owned field)"
    ]


def test_certificates_carry_no_data() -> None:
    cert = {"serverName": "github.com", "certType": "ssh", "certSubType": "ssh-ed25519", "certInfo": "SHA256:x"}
    assert schema.problems("certificates", cert) == []
    assert schema.problems("certificates", {**cert, "certData": None}) == []
    assert schema.problems("certificates", {**cert, "certData": SECRET}) == ["certData: is string, must be null"]


def test_gpg_keys_need_their_public_key() -> None:
    key = {"keyID": "4AEE18F83AFDEB23", "fingerprint": "x", "owner": "GitHub", "trust": "unknown", "keyData": "-----"}
    assert schema.problems("gpgkeys", key) == []
    assert schema.problems("gpgkeys", {**key, "keyData": ""}) == ["keyData: violates minLength 1"]
    del key["keyData"]
    assert schema.problems("gpgkeys", key) == ["(document): 'keyData' is a required property"]


@pytest.mark.parametrize(
    "kind,fields",
    [
        ("repositories", ["repo"]),
        ("repocreds", ["url"]),
        ("clusters", ["server"]),
        ("certificates", ["certSubType", "certType", "serverName"]),
        ("gpgkeys", ["keyData", "keyID"]),
    ],
)
def test_identity_fields_are_required(kind: str, fields: list[str]) -> None:
    assert schema.problems(kind, {}) == [f"(document): {f!r} is a required property" for f in fields]


# --- the manifest ------------------------------------------------------------------------------------------------


def manifest(**changes: Any) -> dict[str, Any]:
    doc = {
        "formatVersion": 1,
        "drkitVersion": "0.1.0",
        "argocdVersion": "v3.5.1",
        "instance": "argocd.example.com",
        "server": "https://argocd.example.com",
        "backupId": "20261129T041959Z-3f2a",
        "startedAt": "2026-11-29T04:19:59Z",
        "finishedAt": "2026-11-29T04:20:03Z",
        "complete": True,
        "counts": {"applications": 1, "projects": 0},
        "objects": [
            {
                "key": "applications/argocd/guestbook.yaml",
                "kind": "applications",
                "name": "argocd/guestbook",
                "size": 420,
                "sha256": "a" * 64,
            }
        ],
        "warnings": [],
    }
    doc.update(changes)
    return doc


def test_a_manifest_validates() -> None:
    assert schema.problems("manifest", manifest()) == []
    suspicious = {"reason": "fewer objects", "previousCount": 10, "count": 1}
    assert schema.problems("manifest", manifest(suspicious=suspicious)) == []


@pytest.mark.parametrize(
    "key", ["/applications/x.yaml", "applications/../x.yaml", "applications/x.json", "passwords/x.yaml", "x.yaml"]
)
def test_manifest_keys_stay_inside_the_backup(key: str) -> None:
    doc = manifest()
    doc["objects"][0]["key"] = key
    assert [p.split(":")[0] for p in schema.problems("manifest", doc)] == ["objects[0].key"]


def test_the_manifest_is_strict() -> None:
    doc = manifest(formatVersion=2, extra=1, counts={"passwords": 1})
    doc["objects"][0].update(sha256="A" * 64, size=-1, note="x")
    assert schema.problems("manifest", doc) == [
        "(document): unexpected field(s) 'extra'",
        "counts: unexpected field(s) 'passwords'",
        "formatVersion: must be 1",
        "objects[0]: unexpected field(s) 'note'",
        "objects[0].sha256: does not match the pattern ^[0-9a-f]{64}$",
        "objects[0].size: violates minimum 0",
    ]


# --- loading -------------------------------------------------------------------------------------------------------


def test_every_kind_has_a_schema_for_the_current_format() -> None:
    for kind in schema.SCHEMA_NAMES:
        loaded = schema.schema_for(kind)
        assert loaded["$id"] == f"urn:drkit:schema:v1:{kind}"
        assert schema.schema_for(kind) is loaded  # loaded once


def test_an_unknown_format_version_says_which_this_drkit_reads() -> None:
    with pytest.raises(
        SchemaError, match=r"backup format version 2 is not one this drkit reads \(it reads version 1\)"
    ):
        schema.validate("applications", app(), "applications/argocd/guestbook", version=2)


def test_an_unknown_kind_is_an_error() -> None:
    with pytest.raises(SchemaError, match="no schema for 'passwords'"):
        schema.schema_for("passwords")


def test_paths_are_readable() -> None:
    assert schema.path_of(["spec", "sources", 0, "repoURL"]) == "spec.sources[0].repoURL"
    assert (
        schema.path_of(["metadata", "labels", "app.kubernetes.io/name"]) == 'metadata.labels["app.kubernetes.io/name"]'
    )
    assert schema.path_of([]) == "(document)"


# --- what an export of the simulator's demo instance stores ---------------------------------------------------


@pytest.fixture(scope="module")
def demo_objects() -> dict[str, list[dict[str, Any]]]:
    """Every object of the demo instance, fetched over HTTP and normalised as export stores it."""
    from concurrent.futures import ThreadPoolExecutor

    from drkit.argocd.client import Client
    from drkit.argocd.kinds import RESTORE_ORDER, normalize
    from drkit.export.snapshot import fetch
    from drkit.testing import Simulator, seed

    with Simulator(app_namespaces=("team-a",)) as sim, ThreadPoolExecutor(4) as pool:
        seed.load(sim, seed.read("demo"))
        client = Client(sim.url, sim.token)
        return {kind: [normalize(kind, o) for o in fetch(client, kind, pool)] for kind in RESTORE_ORDER}


DEMO_KINDS = [k for k in schema.KINDS if k not in ("configmaps", "secrets")]  # ConfigMaps, Secrets: test_kube.py


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_the_demo_instance_validates(demo_objects: dict[str, list[dict[str, Any]]], kind: str) -> None:
    assert demo_objects[kind], f"the demo instance has no {kind}"
    assert {str(i): schema.problems(kind, doc) for i, doc in enumerate(demo_objects[kind])} == {
        str(i): [] for i in range(len(demo_objects[kind]))
    }


def test_the_schemas_are_package_data_inside_the_source_tree() -> None:
    """An uninstalled checkout validates: `drkit.schemas` is a folder of the package, not mapped from elsewhere."""
    from importlib.resources import files

    where = Path(str(files("drkit.schemas")))
    assert where == ROOT / "drkit" / "schemas"
    assert (where / "v1" / "applications.json").is_file()
    assert not (ROOT / "schemas" / "v1").exists()  # the generator's folder holds no second copy

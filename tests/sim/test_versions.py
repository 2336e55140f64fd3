"""The simulator behaves as the Argo CD release it is given (`argocd_version`, `--argocd-version`).

Each behaviour is pinned against the tag it was read at; drkit/testing/versions.py cites tag and file per row.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from drkit.testing import Simulator, controller, gojson, versions
from drkit.testing import sim as sim_cli
from drkit.testing.versions import Release
from tests.sim.conftest import Api, app_body

GUESTBOOK = "https://github.com/argoproj/argocd-example-apps.git"


@contextmanager
def at(version: str, **kwargs: Any) -> Iterator[Api]:
    """An admin client of a fresh simulator of this release (controller paused unless asked for)."""
    kwargs.setdefault("controller", False)
    with Simulator(argocd_version=version, **kwargs) as instance:
        yield Api(instance)
    assert not instance.gateway.crashes, instance.gateway.crashes


# /api/version ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, tag", [("2.14", "v2.14.21"), ("2.14.15", "v2.14.15"), ("3.0", "v3.0.23"), ("v3.1.1", "v3.1.1"),
                   ("3.2", "v3.2.12"), ("3.5", "v3.5.1"), ("3.6", "v3.6.0")],
)  # fmt: skip
def test_version_endpoint_names_the_release_without_auth(given, tag):
    with at(given) as api:
        anonymous = requests.get(api.sim.url + "/api/version", timeout=10).json()
        full = api.get("/api/version").json()
    assert re.fullmatch(re.escape(tag) + r"\+[0-9a-f]{7}", anonymous["Version"])
    assert anonymous == {"Version": full["Version"]}
    assert full["GitTag"] == tag and full["GitCommit"].startswith(full["Version"].split("+")[1])


def test_default_release_is_the_newest():
    assert Simulator(controller=False).version == "v3.6.0+37ee009"  # master at 37ee0097, where swagger.json is from


@pytest.mark.parametrize("text", ["2.9", "3.7", "4.0.0", "latest", ""])
def test_an_unknown_release_is_refused(text):
    with pytest.raises(ValueError, match="is not simulated"):
        Release.parse(text)


def test_cli_takes_argocd_version(capsys):
    with pytest.raises(SystemExit) as refused:
        sim_cli.main(["--argocd-version", "3.9"])
    assert refused.value.code == 2 and "is not simulated" in capsys.readouterr().err
    check = "import os, requests; v = requests.get('http://' + os.environ['ARGOCD_SERVER'] + '/api/version').json()"
    check += "; raise SystemExit(0 if v['Version'].startswith('v3.0.13+') else 1)"
    assert sim_cli.main(["--argocd-version", "3.0.13", "--", sys.executable, "-c", check]) == 0


# the decoder: fields a release's types lack are dropped -----------------------------------------------


def _sample(schema: dict[str, Any]) -> Any:
    """A non-empty JSON value of the swagger type `schema`."""
    if "$ref" in schema:
        return {}
    kind = schema.get("type", "object")
    if kind == "array":
        return [_sample(schema.get("items", {}))]
    if kind == "string":
        return base64.b64encode(b"x").decode() if schema.get("format") == "byte" else "x"
    return {"boolean": True, "integer": 1, "number": 1.5}.get(kind, {"k": "v"})


@pytest.mark.parametrize("row", versions.FIELDS, ids=lambda f: f"{f.type}.{f.name}")
def test_every_field_row_is_dropped_before_its_release_and_kept_from_it(row):
    properties = gojson.definition(row.type)["properties"]
    assert row.name in properties, f"{row.type} has no field {row.name} in swagger.json"
    body = {row.name: _sample(properties[row.name])}
    schema = {"$ref": f"#/definitions/{row.type}"}
    before = Release(row.since.major, row.since.minor - 1, 0) if row.since.minor else Release(2, 14, 0)
    old = gojson.Types(versions.lacks(before), versions.pointers(before))
    new = gojson.Types(versions.lacks(row.since), versions.pointers(row.since))
    assert row.name not in gojson.decode(body, schema, types=old)
    assert row.name in gojson.decode(body, schema, types=new)


def test_automated_enabled_is_dropped_before_3_1():
    """v3.0.0 types.go SyncPolicyAutomated has no `enabled`; v3.1.0 adds it."""
    body = app_body(syncPolicy={"automated": {"prune": True, "enabled": False}})
    with at("3.0") as api:
        stored = api.post("/api/v1/applications", body).json()
    assert stored["spec"]["syncPolicy"]["automated"] == {"prune": True}
    with at("3.1") as api:
        stored = api.post("/api/v1/applications", body).json()
    assert stored["spec"]["syncPolicy"]["automated"] == {"prune": True, "enabled": False}


def test_explicit_false_prune_survives_only_where_it_is_a_pointer():
    """v3.4.0 made Prune/SelfHeal/AllowEmpty `*bool`; before, `false` is the omitted zero value."""
    body = app_body(syncPolicy={"automated": {"prune": False, "selfHeal": True}})
    with at("3.3") as api:
        assert api.post("/api/v1/applications", body).json()["spec"]["syncPolicy"]["automated"] == {"selfHeal": True}
    with at("3.4") as api:
        automated = api.post("/api/v1/applications", body).json()["spec"]["syncPolicy"]["automated"]
    assert automated == {"prune": False, "selfHeal": True}


HYDRATED = {
    "drySource": {"repoURL": GUESTBOOK, "path": "guestbook", "targetRevision": "HEAD"},
    "syncSource": {"targetBranch": "environments/dev", "path": "guestbook"},
}


def test_a_hydrator_app_fails_validation_before_2_14_because_the_field_is_dropped():
    """sourceHydrator arrives in v2.14.0; v2.13's decoder drops it, leaving an app with no source at all."""
    body = app_body()
    del body["spec"]["source"]
    body["spec"]["sourceHydrator"] = HYDRATED
    with at("2.13") as api:
        refused = api.post("/api/v1/applications?validate=false", body)
    assert refused.status_code == 400
    assert "spec.source.repoURL and either spec.source.path" in refused.json()["message"]
    with at("2.14") as api:
        created = api.post("/api/v1/applications?validate=false", body)
    assert created.status_code == 200, created.text
    assert created.json()["spec"]["sourceHydrator"] == HYDRATED


def test_a_hydrator_app_needs_a_sync_branch():
    """master util/argo/argo.go validateSourceHydrator."""
    body = app_body()
    del body["spec"]["source"]
    body["spec"]["sourceHydrator"] = {"drySource": HYDRATED["drySource"], "syncSource": {"path": "x"}}
    with at("3.6") as api:
        refused = api.post("/api/v1/applications?validate=false", body)
    assert refused.status_code == 400
    assert "spec.sourceHydrator.syncSource.targetBranch is required" in refused.json()["message"]


def test_a_name_scoped_whitelist_entry_loses_its_name_before_3_3():
    """v3.3.0 app_project_types.go ClusterResourceRestrictionItem adds `name`; before, items are GroupKinds."""
    scoped = [{"group": "", "kind": "Namespace", "name": "team-*"}]
    project = {"metadata": {"name": "team"}, "spec": {"clusterResourceWhitelist": scoped}}
    with at("3.2") as api:
        old = api.post("/api/v1/projects", {"project": project}).json()
    with at("3.3") as api:
        new = api.post("/api/v1/projects", {"project": project}).json()
    assert old["spec"]["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    assert new["spec"]["clusterResourceWhitelist"] == project["spec"]["clusterResourceWhitelist"]


def test_a_bearer_token_repository_credential_is_dropped_before_3_0():
    """v3.0.0 repository_types.go adds Repository.bearerToken: older releases store the repo without it."""
    repo = {"repo": "https://git.example.com/a.git", "type": "git", "bearerToken": "secret-token", "project": "default"}
    with at("2.14") as api:
        assert api.post("/api/v1/repositories", repo).status_code == 200
        stored = dict(api.sim.repositories[("https://git.example.com/a", "default")])
    assert "bearerToken" not in stored
    with at("3.0") as api:
        assert api.post("/api/v1/repositories", repo).status_code == 200
        assert api.sim.repositories[("https://git.example.com/a", "default")]["bearerToken"] == "secret-token"


# list shapes by patch ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, shown",
    [("2.13", True), ("2.14.15", True), ("2.14.16", False), ("3.0.13", True), ("3.0.14", False), ("3.1.1", True),
     ("3.1.2", False), ("3.2", False), ("3.5", False), ("3.6", True)],
)  # fmt: skip
def test_repository_list_shows_username_by_release(version, shown):
    repo = {"repo": "https://git.example.com/b.git", "username": "bot", "password": "pw", "project": "default"}
    with at(version) as api:
        assert api.post("/api/v1/repositories", repo).status_code == 200
        (item,) = api.get("/api/v1/repositories").json()["items"]
        single = api.get("/api/v1/repositories/" + requests.utils.quote(repo["repo"], safe="")).json()
    assert ("username" in item) is shown and ("username" in single) is shown
    assert "password" not in item


@pytest.mark.parametrize(
    "version, listed", [("3.5", {"url", "username"}), ("3.6", {"url", "username", "type", "enableOCI"})]
)
def test_repocreds_list_shows_type_only_from_3_6(version, listed):
    creds = {"url": "https://charts.example.com", "username": "bot", "password": "pw", "type": "helm"}
    creds["enableOCI"] = True
    with at(version) as api:
        assert api.post("/api/v1/repocreds", creds).status_code == 200
        (item,) = api.get("/api/v1/repocreds").json()["items"]
    assert set(item) == listed


CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n").decode()
CLUSTER = {
    "server": "https://prod.example.com",
    "name": "prod",
    "config": {
        "password": "pw",
        "bearerToken": "tok",
        "tlsClientConfig": {"caData": CA, "certData": CA, "keyData": CA, "serverName": "prod.internal"},
        "execProviderConfig": {"command": "aws", "args": ["--secret"], "env": {"K": "v"}, "apiVersion": "v1"},
    },
}


@pytest.mark.parametrize("version", ["2.14.15", "3.0.13", "3.1.1"])
def test_cluster_list_before_the_2025_fix_returns_ca_cert_and_exec_config(version):
    """Pre-fix server/cluster/cluster.go toAPIResponse blanks only password, bearerToken, keyData, exec env/args."""
    with at(version) as api:
        assert api.post("/api/v1/clusters", CLUSTER).status_code == 200
        items = api.get("/api/v1/clusters").json()["items"]
    config = next(c for c in items if c["server"] == CLUSTER["server"])["config"]
    tls = config["tlsClientConfig"]
    assert tls["caData"] == CA and tls["certData"] == CA and tls["serverName"] == "prod.internal"
    assert "keyData" not in tls and "password" not in config and "bearerToken" not in config
    assert config["execProviderConfig"] == {"command": "aws", "apiVersion": "v1"}


@pytest.mark.parametrize(
    "version, server_name",
    [("2.14.16", False), ("3.0.14", False), ("3.1.2", False), ("3.3", False), ("3.4", True), ("3.6", True)],
)
def test_cluster_list_after_the_fix_is_sanitized(version, server_name):
    """Cluster.Sanitized (v3.1.2 types.go); tlsClientConfig.serverName joins it in v3.4.0."""
    with at(version) as api:
        assert api.post("/api/v1/clusters", CLUSTER).status_code == 200
        items = api.get("/api/v1/clusters").json()["items"]
    config = next(c for c in items if c["server"] == CLUSTER["server"])["config"]
    expected = {"insecure": False, **({"serverName": "prod.internal"} if server_name else {})}
    assert config == {"tlsClientConfig": expected}


# the controller's reading of automated -----------------------------------------------------------------


@pytest.mark.parametrize("version, armed", [("2.14", True), ("3.0", True), ("3.1", False), ("3.6", False)])
def test_a_disarmed_app_auto_syncs_where_enabled_does_not_exist(version, armed):
    """v3.0.0 appcontroller.go autoSync checks only `Automated == nil`; v3.1.0 calls IsAutomatedSyncEnabled."""
    with at(version) as api:
        body = app_body(syncPolicy={"automated": {"prune": True, "enabled": False}})
        assert api.post("/api/v1/applications", body).status_code == 200
        controller.tick(api.sim)
        app = api.sim.applications[(api.sim.namespace, "guestbook")]
    assert bool(app.get("operation")) is armed
    if armed:
        assert app["operation"]["initiatedBy"] == {"automated": True}
        assert app["operation"]["sync"]["prune"] is True


# settings ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, shown", [("2.14", None), ("3.0.1", None), ("3.0.2", "annotation"), ("3.6", "annotation")]
)
def test_settings_tracking_method_of_a_default_install(version, shown):
    """util/settings GetTrackingMethod passes argocd-cm's empty value through before v3.0.2, then says annotation."""
    with at(version) as api:
        settings = requests.get(api.sim.url + "/api/v1/settings", timeout=10).json()
    assert settings.get("trackingMethod") == shown


@pytest.mark.parametrize("version", ["2.14", "3.6"])
def test_settings_report_a_configured_tracking_method(version):
    with at(version, tracking_method="label") as api:
        assert api.get("/api/v1/settings").json()["trackingMethod"] == "label"


def test_effective_tracking_method_changed_in_3_0():
    """util/argo/resource_tracking.go GetTrackingMethod: label before v3.0.0, annotation from it."""
    assert versions.effective_tracking_method(Release.parse("2.14"), "") == "label"
    assert versions.effective_tracking_method(Release.parse("3.0.0"), "") == "annotation"
    assert versions.effective_tracking_method(Release.parse("3.0.0"), "label") == "label"


@pytest.mark.parametrize(
    "version, present, absent",
    [("3.2", {"trackingMethod", "passwordPattern"}, {"syncWithReplaceAllowed", "resourceViewEnabled"}),
     ("3.3", {"syncWithReplaceAllowed"}, {"resourceViewEnabled"}),
     ("3.6", {"syncWithReplaceAllowed", "resourceViewEnabled"}, set())],
)  # fmt: skip
def test_settings_fields_by_release(version, present, absent):
    """server/settings/settings.proto: syncWithReplaceAllowed from v3.3.0, resourceViewEnabled on master."""
    with at(version) as api:
        settings = api.get("/api/v1/settings").json()
    assert present <= set(settings) and not absent & set(settings)


def test_write_credential_endpoints_exist_from_2_14():
    """assets/swagger.json gains /api/v1/write-repocreds in v2.14.0: older servers answer a plain 404."""
    with at("2.13") as api:
        assert api.get("/api/v1/write-repocreds").status_code == 404
    with at("2.14") as api:
        assert api.get("/api/v1/write-repocreds").status_code == 200


@pytest.mark.parametrize("sim", [{"argocd_version": "3.0.13"}], indirect=True)
def test_the_sim_fixture_takes_a_release(sim):
    assert sim.version.startswith("v3.0.13+")


def test_the_version_table_cites_a_tag_and_a_file_per_row():
    for row in versions.FIELDS + versions.POINTERS:
        assert re.match(r"v\d+\.\d+\.\d+ pkg/apis/application/v1alpha1/\w+\.go", row.source), row


def test_cli_help_documents_the_flag():
    out = subprocess.run([sys.executable, "-m", "drkit.testing.sim", "--help"], capture_output=True, text=True)
    assert "--argocd-version" in out.stdout

"""One store of truth: the simulated Argo CD keeps repositories, templates, clusters and its settings as Secrets.

Argo CD keeps them as Secrets labelled `argocd.argoproj.io/secret-type` in its namespace (argo-cd v3.5.1
util/db/repository_secrets.go, util/db/cluster.go, common/common.go) and its signing key and passwords in
argocd-secret (util/settings/settings.go, accounts.go); the Kubernetes API and the Argo CD API see one another's
writes at once. Names and data keys are cited in drkit/testing/secret_codec.py.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from drkit.testing import Simulator
from drkit.testing.secret_codec import repo_url_to_secret_name, uri_to_secret_name
from tests.sim.conftest import Api

REPO = "https://git.example.com/team/app.git"
SERVER = "https://prod.example.com:6443"
TYPE = "argocd.argoproj.io/secret-type"
MERGE = {"Content-Type": "application/merge-patch+json"}


def b64(text: str | bytes) -> str:
    return base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()


def data_of(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


def labelled(kube, kind: str) -> list[dict]:
    return kube("GET", kube.secrets(), params={"labelSelector": f"{TYPE}={kind}"}).json()["items"]


def test_argo_cd_names_its_secrets_as_its_source_does() -> None:
    """RepoURLToSecretName and URIToSecretName against the expectations of argo-cd v3.5.1's own tests
    (util/db/repository_test.go TestRepoURLToSecretName, util/db/cluster_test.go Test_URIToSecretName)."""
    assert repo_url_to_secret_name("repo", "git://git@github.com:argoproj/ARGO-cd.git", "") == "repo-83273445"
    assert repo_url_to_secret_name("repo", "git://git@github.com:argoproj/ARGO-cd.git", "foobar") == "repo-2733415816"
    assert repo_url_to_secret_name("repo", "https://github.com/argoproj/ARGO-cd", "") == "repo-1890113693"
    assert uri_to_secret_name("cluster", "http://foo") == "cluster-foo-752281925"
    long = "http://thelongestdomainnameintheworld.argocd-project.com:3000"
    assert uri_to_secret_name("cluster", long) == "cluster-thelongestdomainnameintheworld.argocd-project.com-2721640553"
    assert uri_to_secret_name("cluster", "http://[FE80::1FF:FE23:4567:890A]:8000") == (
        "cluster-fe80--1ff-fe23-4567-890a-682802007"
    )
    assert uri_to_secret_name("cluster", "http://:/abc") == "cluster--1969338796"


def test_a_repository_created_through_the_api_is_a_labelled_secret(ksim, kube) -> None:
    """db.CreateRepository: a Secret `repo-<fnv32a(url+project)>`, labelled `repository`, annotated
    `managed-by: argocd.argoproj.io`, data keys `url`, `username`, `password`, `type`, `name`."""
    body = {"repo": REPO, "type": "git", "name": "app", "username": "bot", "password": "s3cret-pw"}
    assert Api(ksim).post("/api/v1/repositories", body).status_code == 200
    (secret,) = labelled(kube, "repository")
    assert secret["metadata"]["name"] == repo_url_to_secret_name("repo", REPO, "")
    assert secret["metadata"]["annotations"] == {"managed-by": "argocd.argoproj.io"}
    assert data_of(secret) == {"name": "app", "url": REPO, "username": "bot", "password": "s3cret-pw", "type": "git"}
    assert [e["manager"] for e in secret["metadata"]["managedFields"]] == ["argocd-server"]


def test_a_repository_secret_written_through_kube_is_a_repository(ksim, kube, core) -> None:
    """A labelled Secret is a repository the Argo CD API lists at once (credentials redacted there, kept in
    the Secret); a credential template written the same way lends it credentials (inheritedCreds)."""
    core.create_namespaced_secret("argocd", {
        "metadata": {"name": "private-repo", "labels": {TYPE: "repository"}},
        "stringData": {"url": REPO, "type": "git", "project": "default"},
    })  # fmt: skip
    core.create_namespaced_secret("argocd", {
        "metadata": {"name": "team-creds", "labels": {TYPE: "repo-creds"}},
        "stringData": {"url": "https://git.example.com/team", "username": "bot", "password": "t3mplate-pw"},
    })  # fmt: skip
    (item,) = Api(ksim).get("/api/v1/repositories").json()["items"]
    assert (item["repo"], item["project"], item["inheritedCreds"]) == (REPO, "default", True)
    assert "password" not in item
    creds = Api(ksim).get("/api/v1/repocreds").json()["items"]
    assert [c["url"] for c in creds] == ["https://git.example.com/team"]
    assert ksim.repocreds["https://git.example.com/team"]["password"] == "t3mplate-pw"
    core.delete_namespaced_secret("private-repo", "argocd")
    assert Api(ksim).get("/api/v1/repositories").json()["items"] is None


def test_no_duplicate_when_a_repository_arrives_both_ways(ksim, kube) -> None:
    """db.CreateRepository first looks the URL up among the repository Secrets (git.SameURL, same project): a
    create that meets a Secret written through the Kubernetes API, under any name, is an idempotent 200 when
    equal (reflect.DeepEqual, the URL as spelled included), else 400 or, with upsert, an update of that Secret in
    place, whatever the URL's spelling; never a second Secret. An update through either side is seen by the
    other."""
    declared = {"url": REPO, "type": "git", "password": "first-pw"}
    kube("POST", kube.secrets(), {"metadata": {"name": "declared", "labels": {TYPE: "repository"}},
                                  "stringData": declared})  # fmt: skip
    uid = kube("GET", kube.secrets("declared")).json()["metadata"]["uid"]
    api = Api(ksim)
    assert api.post("/api/v1/repositories", {"repo": REPO, "type": "git", "password": "first-pw"}).status_code == 200
    respelled = {"repo": "HTTPS://git.example.com/team/app", "type": "git", "password": "second-pw"}
    assert api.post("/api/v1/repositories", respelled).status_code == 400  # different, and no upsert
    assert api.post("/api/v1/repositories?upsert=true", respelled).status_code == 200
    (secret,) = labelled(kube, "repository")
    assert (secret["metadata"]["name"], secret["metadata"]["uid"]) == ("declared", uid)
    assert data_of(secret) == {"url": "HTTPS://git.example.com/team/app", "type": "git", "password": "second-pw"}
    kube("PATCH", kube.secrets("declared"), {"stringData": {"password": "third-pw"}}, headers=MERGE)
    assert ksim.repositories[("https://git.example.com/team/app", "")]["password"] == "third-pw"
    assert len(api.get("/api/v1/repositories").json()["items"]) == 1


def test_deleting_through_the_api_spares_a_secret_argo_cd_does_not_manage(ksim, kube) -> None:
    """db.deleteSecret: a Secret without `managed-by: argocd.argoproj.io` only loses its secret-type label."""
    kube("POST", kube.secrets(), {"metadata": {"name": "declared", "labels": {TYPE: "repository", "team": "a"}},
                                  "stringData": {"url": REPO}})  # fmt: skip
    assert Api(ksim).delete("/api/v1/repositories/" + REPO.replace("/", "%2F").replace(":", "%3A")).json() == {}
    kept = kube("GET", kube.secrets("declared")).json()
    assert kept["metadata"]["labels"] == {"team": "a"}
    assert ksim.repositories == {}


def test_clusters_live_in_secrets_with_their_config(ksim, kube, core) -> None:
    """clusterToSecret: `cluster-<host>-<fnv32a(server)>`, data `server`, `name`, `config` (the ClusterConfig's
    JSON, bearer token included), `namespaces`; a cluster Secret written through kube is a cluster at once, and
    the app validation accepts its name as a destination."""
    api = Api(ksim)
    api.post("/api/v1/clusters", {"server": SERVER, "name": "prod", "namespaces": ["a", "b"],
                                  "config": {"bearerToken": "cluster-t0ken"}})  # fmt: skip
    (secret,) = labelled(kube, "cluster")
    assert secret["metadata"]["name"] == uri_to_secret_name("cluster", SERVER)
    stored = data_of(secret)
    assert (stored["server"], stored["name"], stored["namespaces"]) == (SERVER, "prod", "a,b")
    assert json.loads(stored["config"]) == {"bearerToken": "cluster-t0ken", "tlsClientConfig": {"insecure": False}}
    config = {"bearerToken": "staging-t0ken", "tlsClientConfig": {"insecure": True}}
    core.create_namespaced_secret("argocd", {
        "metadata": {"name": "staging", "labels": {TYPE: "cluster", "env": "staging"}},
        "stringData": {"server": "https://staging.example.com", "name": "staging", "config": json.dumps(config)},
    })  # fmt: skip
    listed = {c["name"]: c for c in api.get("/api/v1/clusters").json()["items"]}
    assert listed["staging"]["labels"] == {"env": "staging"} and "bearerToken" not in listed["staging"]["config"]
    assert ksim.clusters["https://staging.example.com"]["config"]["bearerToken"] == "staging-t0ken"
    app = {"metadata": {"name": "web"}, "spec": {"project": "default", "destination": {"name": "staging",
           "namespace": "web"}, "source": {"repoURL": REPO, "path": ".", "targetRevision": "HEAD"}}}  # fmt: skip
    assert api.post("/api/v1/applications", app).status_code == 200


def test_a_cluster_create_meets_an_existing_secret_only_under_argo_cds_name(ksim, kube) -> None:
    """db.CreateCluster creates `cluster-<host>-<hash>` and compares only on AlreadyExists: a kube-written
    Secret under that name is met (200 when equal); under another name, Argo CD writes a second Secret for the
    same server, and both are listed, as its source does."""
    config = json.dumps({"tlsClientConfig": {"insecure": False}})
    own = uri_to_secret_name("cluster", SERVER)
    kube("POST", kube.secrets(), {"metadata": {"name": own, "labels": {TYPE: "cluster"}},
                                  "stringData": {"server": SERVER, "name": "prod", "config": config}})  # fmt: skip
    assert Api(ksim).post("/api/v1/clusters", {"server": SERVER, "name": "prod"}).status_code == 200
    assert len(labelled(kube, "cluster")) == 1
    other = {"server": "https://b.example.com", "name": "b", "config": config}
    kube("POST", kube.secrets(), {"metadata": {"name": "other", "labels": {TYPE: "cluster"}}, "stringData": other})
    Api(ksim).post("/api/v1/clusters", {"server": "https://b.example.com", "name": "b"})
    assert sorted(s["metadata"]["name"] for s in labelled(kube, "cluster")) == sorted(
        [own, "other", uri_to_secret_name("cluster", "https://b.example.com")]
    )


def test_a_fresh_install_namespace(kube) -> None:
    """manifests/install.yaml's ConfigMaps and Secrets (labelled part-of argocd), and what InitializeSettings
    adds to argocd-secret: `server.secretkey` (base64 of 32 random bytes), `admin.password` (not the password
    itself), `admin.passwordMtime`; the initial admin password in argocd-initial-admin-secret."""
    names = {c["metadata"]["name"]: c for c in kube("GET", kube.configmaps()).json()["items"]}
    assert set(names) == {"argocd-cm", "argocd-cmd-params-cm", "argocd-gpg-keys-cm", "argocd-notifications-cm",
                          "argocd-rbac-cm", "argocd-ssh-known-hosts-cm", "argocd-tls-certs-cm"}  # fmt: skip
    assert all(c["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd" for c in names.values())
    settings = data_of(kube("GET", kube.secrets("argocd-secret")).json())
    assert len(base64.b64decode(settings["server.secretkey"])) == 32
    assert settings["admin.password"] != "password" and settings["admin.passwordMtime"].endswith("Z")
    assert data_of(kube("GET", kube.secrets("argocd-initial-admin-secret")).json()) == {"password": "password"}
    assert kube("GET", kube.secrets("argocd-notifications-secret")).status_code == 200


def test_a_token_minted_with_a_key_restored_into_argocd_secret_authenticates(kube, ksim) -> None:
    """API-NOTES "project tokens": a token needs the instance's `server.secretkey` signature and its id in the
    project's status. A project role token minted on another instance fails here until that instance's key is
    written into argocd-secret through the Kubernetes API; then it authenticates at once."""
    policy = "p, proj:team:ci, applications, get, team/*, allow"
    project = {"metadata": {"name": "team"}, "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*",
               "namespace": "*"}], "roles": [{"name": "ci", "policies": [policy]}]}}  # fmt: skip
    with Simulator(controller=False) as source:
        Api(source).post("/api/v1/projects", {"project": project})
        token = Api(source).post("/api/v1/projects/team/roles/ci/token", {"id": "ci-1"}).json()["token"]
        restored = Api(source).get("/api/v1/projects/team").json()
        key = source.secret_key
    api = Api(ksim)
    body = {"metadata": {"name": "team"}, "spec": restored["spec"], "status": restored["status"]}
    assert api.post("/api/v1/projects", {"project": body}).status_code == 200
    assert Api(ksim, token).get("/api/v1/applications").status_code == 401
    r = kube("PATCH", kube.secrets("argocd-secret"), {"data": {"server.secretkey": b64(key)}}, headers=MERGE)
    assert r.status_code == 200
    assert ksim.secret_key == key
    assert Api(ksim, token).get("/api/v1/applications").status_code == 200
    assert api.get("/api/v1/applications").status_code == 401  # the target's own old tokens are the ones dead now


def test_the_admin_password_lives_in_argocd_secret(ksim, kube) -> None:
    """accounts.go: the admin password is argocd-secret `admin.password`; changing it through the API rewrites
    it there, and a hash written there through kube is the password login checks (install.py's hash form)."""
    login = {"username": "admin", "password": "password"}
    assert Api(ksim).post("/api/v1/session", login).status_code == 200
    change = {"currentPassword": "password", "newPassword": "n3w-passw0rd"}
    before = data_of(kube("GET", kube.secrets("argocd-secret")).json())["admin.password"]
    assert Api(ksim).put("/api/v1/account/password", change).status_code == 200
    after = data_of(kube("GET", kube.secrets("argocd-secret")).json())["admin.password"]
    assert after != before and "n3w-passw0rd" not in after
    with Simulator(controller=False, admin_password="other-passw0rd") as other:
        foreign = other.users["admin"]
    kube("PATCH", kube.secrets("argocd-secret"), {"stringData": {"admin.password": foreign}}, headers=MERGE)
    assert Api(ksim).post("/api/v1/session", {"username": "admin", "password": "other-passw0rd"}).status_code == 200
    assert Api(ksim).post("/api/v1/session", {"username": "admin", "password": "n3w-passw0rd"}).status_code == 401


def test_the_demo_has_its_settings_and_credentials_as_secrets() -> None:
    """`--seed demo`: its repositories, templates and clusters are labelled Secrets; argocd-cm names an OIDC
    client secret by `$oidc-secret:clientSecret`, and that Secret exists, labelled part-of argocd."""
    from drkit.testing import seed

    with Simulator(kube=True, controller=False) as demo:
        demo.seed(seed.read("demo"))
        secrets = {s["metadata"]["name"]: s for s in demo.kube.items("secrets", "argocd")}
        kinds = [(s["metadata"].get("labels") or {}).get(TYPE) for s in secrets.values()]
        assert (kinds.count("repository"), kinds.count("repo-creds"), kinds.count("cluster")) == (7, 2, 2)
        cm = demo.kube.get("configmaps", "argocd", "argocd-cm")["data"]
        assert "$oidc-secret:clientSecret" in cm["oidc.config"] and cm["accounts.drkit"] == "apiKey"
        assert "resource.exclusions" in cm  # the install's own keys stay
        assert secrets["oidc-secret"]["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}
        assert "g, drkit, role:backup" in demo.kube.get("configmaps", "argocd", "argocd-rbac-cm")["data"]["policy.csv"]
        assert "drkit" in [a["name"] for a in Api(demo).get("/api/v1/account").json()["items"]]


def test_the_command_line_gives_the_child_a_kubeconfig(tmp_path) -> None:
    """`python -m drkit.testing.sim --kube -- CMD`: CMD finds the simulated cluster through KUBECONFIG, as
    `kubernetes.config.load_kube_config` reads it, in the context's namespace `argocd`."""
    pytest.importorskip("kubernetes")
    probe = (
        "import kubernetes; kubernetes.config.load_kube_config();"
        "_, ctx = kubernetes.config.list_kube_config_contexts();"
        "v1 = kubernetes.client.CoreV1Api();"
        "print(ctx['context']['namespace'], v1.read_namespaced_config_map('argocd-cm', 'argocd').metadata.name)"
    )
    done = subprocess.run(
        [sys.executable, "-m", "drkit.testing.sim", "--kube", "--", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["argocd", "argocd-cm"]
    assert "Kubernetes API on http://127.0.0.1:" in done.stderr

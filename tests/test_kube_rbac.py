"""runbooks/least-privilege.md's Kubernetes Roles (issue 18): enough for `--kube`, no more, and each rule needed.

`drkit export --kube --encrypt age:...` and `drkit restore --kube --identity ...` run through the CLI against the
simulated Kubernetes API (drkit/testing/kube, served by `Simulator(kube=True)`), as a user bound to exactly the
rules of the page's Role, parsed from its YAML. The API's audit log (`KubeApi.requests`, verb, resource, name and
status of every request) is then held to the rules both ways: every request the command made is one the rules
allow (checked here with the RBAC documentation's matching, not the simulator's), and every verb, resource and
resource name of every rule is used by some request, so the Role is minimal. Taking away any one verb on one
resource of a rule, or one name of a rule's `resourceNames`, fails the command with exit 2 and a message naming
the verb, the resource and the object; an export then writes no backup, a restore no Argo CD object.

cronjob.yaml carries the export Role and its RoleBinding too: they must be the page's, bound to the ServiceAccount
the export pod runs as, with its token mounted.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from click.testing import CliRunner, Result

from drkit.cli import main
from drkit.testing import Simulator, seed
from drkit.testing.kube.rbac import FULL_ACCESS
from drkit.testing.kube.server import Seen

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "runbooks" / "least-privilege.md").read_text()
EXPORT, RESTORE = "Kubernetes: the export Role (`--kube`)", "Kubernetes: the restore Role (`--kube`)"
NAMESPACE, INSTANCE = "argocd", "demo"
# A ConfigMap a fresh target lacks, so the restore creates one (a real install has all seven; a namespace
# prepared before the install, or an older install, does not)
MISSING_ON_TARGET = "argocd-gpg-keys-cm"
Rules = list[dict[str, Any]]


def section(title: str) -> str:
    return PAGE.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def yaml_blocks(title: str) -> list[Any]:
    """Every document of every ```yaml block in the section (indented blocks dedented), in order."""
    out = []
    for indent, body in re.findall(r"^([ \t]*)```yaml\n(.*?)^[ \t]*```", section(title), re.S | re.M):
        text = "\n".join(line.removeprefix(indent) for line in body.splitlines())
        out += [d for d in yaml.safe_load_all(text) if d is not None]
    return out


def role(title: str) -> dict[str, Any]:
    (found,) = [d for d in yaml_blocks(title) if isinstance(d, dict) and d.get("kind") == "Role"]
    return found


def rules_of(title: str) -> Rules:
    return role(title)["rules"]


def allows(rule: dict[str, Any], seen: Seen) -> bool:
    """Does this Role rule allow the request? (RBAC "Referring to resources": group, resource, verb, and the name
    when the rule names any; a create or an unfiltered list carries no name.)"""
    names = rule.get("resourceNames") or []
    return (
        any(g in ("", "*") for g in rule.get("apiGroups", [""]))
        and any(r in (seen.resource, "*") for r in rule["resources"])
        and any(v in (seen.verb, "*") for v in rule["verbs"])
        and (not names or seen.name in names)
    )


def without(rules: Rules, index: int, verb: str, resource: str) -> Rules:
    """The rules with one verb on one resource taken out of rule `index` (the rest of it kept, split as needed)."""
    rule, out = rules[index], [r for i, r in enumerate(rules) if i != index]
    verbs, resources = [v for v in rule["verbs"] if v != verb], [r for r in rule["resources"] if r != resource]
    if verbs:
        out.append(rule | {"verbs": verbs})  # the other verbs, on every resource of the rule
    if resources:
        out.append(rule | {"verbs": [verb], "resources": resources})  # this verb, on the other resources
    return out


def without_name(rules: Rules, index: int, name: str) -> Rules:
    rule = rules[index]
    return [r for i, r in enumerate(rules) if i != index] + [
        rule | {"resourceNames": [n for n in rule["resourceNames"] if n != name]}
    ]


def atoms(rules: Rules) -> list[tuple[int, str, str]]:
    """(rule index, verb, resource) for every verb on every resource of every rule."""
    return [(i, v, r) for i, rule in enumerate(rules) for v in rule["verbs"] for r in rule["resources"]]


def names(rules: Rules) -> list[tuple[int, str]]:
    return [(i, n) for i, rule in enumerate(rules) for n in rule.get("resourceNames") or []]


def check_exactly(rules: Rules, requests: list[Seen]) -> None:
    """Every request allowed by some rule; every verb, resource and name of every rule used by a request."""
    assert requests, "the command made no Kubernetes request"
    for seen in requests:
        assert any(allows(rule, seen) for rule in rules), f"{seen} is not allowed by the Role"
    for i, verb, resource in atoms(rules):
        assert any(allows(rules[i], s) and (s.verb, s.resource) == (verb, resource) for s in requests), (
            f"rule {i}: {verb} on {resource} is granted but never used"
        )
    for i, name in names(rules):
        assert any(allows(rules[i], s) and s.name == name for s in requests), f"rule {i}: {name} is never used"


# the simulated instances ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path_factory.mktemp("age") / "identity.txt"
    path.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    return str(identity.to_public()), path


@pytest.fixture(scope="module")
def source() -> Iterator[Simulator]:
    """The demo instance, its settings and Secrets in the simulated cluster's namespace argocd."""
    with Simulator(app_namespaces=("team-a",), kube=True) as sim:
        seed.load(sim, seed.read("demo"))
        yield sim


class Kube:
    """One user of a simulator's Kubernetes API with these rules: a kubeconfig for it, and its requests."""

    count = 0

    def __init__(self, sim: Simulator, rules: Rules, where: Path) -> None:
        Kube.count += 1
        self.sim, self.user = sim, f"system:serviceaccount:{NAMESPACE}:drkit-{Kube.count}"
        token = sim.kube_grant(self.user, rules)
        self.config = sim.write_kubeconfig(where / f"kubeconfig-{Kube.count}", token=token)

    @property
    def requests(self) -> list[Seen]:
        return [s for s in self.sim.kube_api.requests if s.user == self.user]


def export(sim: Simulator, rules: Rules, store: Path, tmp_path: Path, recipient: str) -> tuple[Result, Kube]:
    kube = Kube(sim, rules, tmp_path)
    server = ["--server", sim.address, "--plaintext", "--auth-token", sim.token]
    argv = ["export", *server, "--store", str(store), "--instance", INSTANCE, "--kube", "--kubeconfig"]
    return CliRunner().invoke(main, [*argv, str(kube.config), "--encrypt", f"age:{recipient}"]), kube


def manifests(store: Path) -> list[Path]:
    return sorted(store.rglob("manifest.yaml"))


@pytest.fixture(scope="module")
def backup(source: Simulator, age_key: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `--kube --encrypt` backup of the demo, taken with the page's export Role."""
    store, where = tmp_path_factory.mktemp("store"), tmp_path_factory.mktemp("kube")
    result, _ = export(source, rules_of(EXPORT), store, where, age_key[0])
    assert result.exit_code == 0, result.output
    return store


def restore(source: Simulator, rules: Rules, store: Path, identity: Path, tmp_path: Path) -> tuple[Result, Kube, Any]:
    """Restore the backup onto a fresh instance whose namespace lacks MISSING_ON_TARGET, as a user with `rules`.

    The Argo CD token is one of the source (a session of its admin): the restore brings back the source's signing
    key, after which the target refuses every token it signed itself.
    """
    target = Simulator(app_namespaces=("team-a",), kube=True).start()
    target.kube.delete("configmaps", NAMESPACE, MISSING_ON_TARGET)
    kube = Kube(target, rules, tmp_path)
    server = ["--server", target.address, "--plaintext", "--auth-token", source.mint_token("admin:login")]
    argv = ["restore", *server, "--store", str(store), "--instance", INSTANCE, "latest", "--kube", "--kubeconfig"]
    argv += [str(kube.config), "--identity", str(identity), "--sync", "--wait", "--timeout", "60"]
    return CliRunner().invoke(main, argv), kube, target


def denied(kube: Kube, verb: str, resource: str, output: str = "") -> Seen:
    """The refused request of this verb and resource that the message names. A command stops at the first
    refusal, but restore reads and writes several objects at once, so the others in flight may be refused too."""
    refused = [s for s in kube.requests if s.status == 403]
    assert refused and {(s.verb, s.resource) for s in refused} == {(verb, resource)}, refused
    named = [s for s in refused if s.name and f"/{s.name}:" in output]
    return named[0] if named else refused[0]


def names_the_object(output: str, refused: Seen, backup_names: set[str]) -> None:
    """The message names the verb, the resource and the object (a create's name is in drkit's message, not in
    the request's URL)."""
    assert f"verb {refused.verb} on resource {refused.resource}" in output, output
    singular = refused.resource[:-1]
    if refused.verb == "list":
        assert f"{refused.resource} in namespace {NAMESPACE}" in output, output
    elif refused.name:
        assert f"{singular} {NAMESPACE}/{refused.name}" in output, output
    else:
        found = re.search(rf"\b{singular} {NAMESPACE}/([a-z0-9.-]+): Kubernetes answered HTTP 403", output)
        assert found and found.group(1) in backup_names, output


# export --------------------------------------------------------------------------------------------------------


def test_the_export_role_reads_everything_and_only_what_export_requests(
    source: Simulator, age_key: tuple[str, Path], tmp_path: Path
) -> None:
    rules = rules_of(EXPORT)
    full, _ = export(source, list(FULL_ACCESS), tmp_path / "full", tmp_path, age_key[0])
    result, kube = export(source, rules, tmp_path / "store", tmp_path, age_key[0])
    assert full.exit_code == 0 and result.exit_code == 0, result.output
    counts = [
        yaml.safe_load(m.read_text())["counts"] for m in manifests(tmp_path / "full") + manifests(tmp_path / "store")
    ]
    assert counts[0] == counts[1] and counts[1]["configmaps"] == 7 and counts[1]["secrets"] > 0, counts
    assert {s.verb for s in kube.requests} == {"get", "list"}, "export never writes to the cluster"
    check_exactly(rules, kube.requests)


@pytest.mark.parametrize(("index", "verb", "resource"), atoms(rules_of(EXPORT)))
def test_each_export_rule_is_needed(
    source: Simulator, age_key: tuple[str, Path], tmp_path: Path, index: int, verb: str, resource: str
) -> None:
    result, kube = export(source, without(rules_of(EXPORT), index, verb, resource), tmp_path, tmp_path, age_key[0])
    assert result.exit_code == 2, result.output
    names_the_object(result.output, denied(kube, verb, resource, result.output), set())
    assert not manifests(tmp_path), "a backup was written"


@pytest.mark.parametrize(("index", "name"), names(rules_of(EXPORT)))
def test_each_configmap_the_export_role_names_is_read(
    source: Simulator, age_key: tuple[str, Path], tmp_path: Path, index: int, name: str
) -> None:
    result, kube = export(source, without_name(rules_of(EXPORT), index, name), tmp_path, tmp_path, age_key[0])
    assert result.exit_code == 2, result.output
    refused = denied(kube, "get", "configmaps")
    assert refused.name == name
    names_the_object(result.output, refused, set())
    assert not manifests(tmp_path), "a backup was written"


def test_the_named_secrets_form_reads_the_demo_and_stops_at_a_secret_it_leaves_out(
    source: Simulator, age_key: tuple[str, Path], tmp_path: Path
) -> None:
    """The page's `resourceNames` form of the `get` rule on secrets: enough for the demo (argocd-cm names
    `$oidc-secret:clientSecret`), and a Secret left out of it stops the export, named."""
    (named,) = [d for d in yaml_blocks(EXPORT) if isinstance(d, list)][0]
    rules = rules_of(EXPORT)
    (index,) = [i for i, r in enumerate(rules) if r["resources"] == ["secrets"] and r["verbs"] == ["get"]]
    assert (named["resources"], named["verbs"]) == (["secrets"], ["get"])
    rules[index] = named
    result, kube = export(source, rules, tmp_path / "store", tmp_path, age_key[0])
    assert result.exit_code == 0, result.output
    check_exactly(rules, kube.requests)
    for name in named["resourceNames"]:
        result, kube = export(source, without_name(rules, index, name), tmp_path / name, tmp_path, age_key[0])
        assert result.exit_code == 2, result.output
        names_the_object(result.output, denied(kube, "get", "secrets", result.output), set())
        assert not manifests(tmp_path / name)


# restore -------------------------------------------------------------------------------------------------------


def backup_names(store: Path) -> set[str]:
    (manifest,) = manifests(store)
    objects = yaml.safe_load(manifest.read_text())["objects"]
    return {o["name"] for o in objects if o["kind"] in ("configmaps", "secrets")}


def test_the_restore_role_restores_the_demo_and_is_only_what_restore_requests(
    source: Simulator, backup: Path, age_key: tuple[str, Path], tmp_path: Path
) -> None:
    rules = rules_of(RESTORE)
    result, kube, target = restore(source, rules, backup, age_key[1], tmp_path)
    try:
        assert result.exit_code == 0, result.output
        assert len(target.applications) == len(source.applications)
        assert target.kube.find("configmaps", NAMESPACE, MISSING_ON_TARGET) is not None
        assert {s.verb for s in kube.requests} == {"get", "create", "update"}, "restore never lists or deletes"
        check_exactly(rules, kube.requests)
    finally:
        target.stop()


@pytest.mark.parametrize(("index", "verb", "resource"), atoms(rules_of(RESTORE)))
def test_each_restore_rule_is_needed(
    source: Simulator, backup: Path, age_key: tuple[str, Path], tmp_path: Path, index: int, verb: str, resource: str
) -> None:
    rules = without(rules_of(RESTORE), index, verb, resource)
    result, kube, target = restore(source, rules, backup, age_key[1], tmp_path)
    try:
        assert result.exit_code == 2, result.output
        names_the_object(result.output, denied(kube, verb, resource, result.output), backup_names(backup))
        assert not target.applications and set(target.projects) == {"default"}, "an Argo CD object was written"
        if verb == "get":
            assert not [s for s in kube.requests if s.verb != "get"], "a write before every read"
    finally:
        target.stop()


@pytest.mark.parametrize(("index", "name"), names(rules_of(RESTORE)))
def test_each_configmap_the_restore_role_names_is_read(
    source: Simulator, backup: Path, age_key: tuple[str, Path], tmp_path: Path, index: int, name: str
) -> None:
    result, kube, target = restore(source, without_name(rules_of(RESTORE), index, name), backup, age_key[1], tmp_path)
    try:
        assert result.exit_code == 2, result.output
        refused = denied(kube, "get", "configmaps")
        assert refused.name == name
        names_the_object(result.output, refused, backup_names(backup))
        assert not [s for s in kube.requests if s.verb != "get"], "a write before every read"
    finally:
        target.stop()


# the page's YAML and cronjob.yaml ------------------------------------------------------------------------------


def test_the_roles_are_namespaced_and_bound() -> None:
    for title, subject in ((EXPORT, "drkit"), (RESTORE, "drkit-restore")):
        docs = [d for d in yaml_blocks(title) if isinstance(d, dict)]
        assert {d["kind"] for d in docs} == {"Role", "RoleBinding"}, "no ClusterRole"
        found, (binding,) = role(title), [d for d in docs if d["kind"] == "RoleBinding"]
        assert found["metadata"]["namespace"] == binding["metadata"]["namespace"] == NAMESPACE
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": found["metadata"]["name"],
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": subject, "namespace": NAMESPACE}]
        for rule in found["rules"]:
            assert rule["apiGroups"] == [""] and "*" not in rule["verbs"] + rule["resources"]
            assert not {"create"} & set(rule["verbs"]) or not rule.get("resourceNames"), "create cannot be named"


def test_cronjob_yaml_binds_the_pages_export_role_to_the_export_pod() -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / "cronjob.yaml").read_text()) if d]
    page = {d["kind"]: d for d in yaml_blocks(EXPORT) if isinstance(d, dict)}
    (found,) = [d for d in docs if d["kind"] == "Role"]
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    assert found == page["Role"], "cronjob.yaml's Role is not the one in runbooks/least-privilege.md"
    assert binding == page["RoleBinding"]
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CronJob"}
    pod = jobs["drkit-export"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == binding["subjects"][0]["name"]
    assert jobs["drkit-export"]["metadata"]["namespace"] == binding["subjects"][0]["namespace"]
    assert pod["automountServiceAccountToken"] is True
    (container,) = pod["containers"]
    assert "--kube" in container["args"] and any(a.startswith("--encrypt=age:") for a in container["args"])
    drill = jobs["drkit-drill"]
    assert drill["metadata"]["namespace"] != NAMESPACE, "the drill's age identity must not be readable by the export"


def test_show_and_history_print_no_secret_value(source: Simulator, backup: Path, age_key: tuple[str, Path]) -> None:
    """What a reader of the backup sees of a Secret: key names and fingerprints, not one value nor its base64."""
    where = ["--store", str(backup), "--instance", INSTANCE, "--identity", str(age_key[1])]
    for name in sorted(n for n in backup_names(backup) if source.kube.find("secrets", NAMESPACE, n)):
        data = source.kube.get("secrets", NAMESPACE, name).get("data") or {}
        # a password's change time and the API-key ids are no secrets, and a time may equal one the output prints
        data = {k: v for k, v in data.items() if not k.endswith((".passwordMtime", ".tokens"))}
        values = {v for v in data.values() if len(v) >= 8} | {
            text for v in data.values() if len(text := base64.b64decode(v).decode("utf-8", "replace")) >= 8
        }
        for argv in (["show", "latest", f"secrets/{name}"], ["history", f"secrets/{name}", "--diff"]):
            result = CliRunner().invoke(main, [*argv, *where])
            assert result.exit_code == 0, result.output
            assert "sha256:" in result.output or not data, result.output
            assert not [v for v in values if v in result.output], f"drkit {argv[0]} printed a value of {name}"

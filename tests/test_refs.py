"""One references function: what selection, the apply blocker and verify each ask of `refs(kind, doc)`."""

from __future__ import annotations

import pytest

from drkit.argocd.kinds import KINDS, RESTORE_ORDER
from drkit.argocd.refs import MAY_USE, REQUIRED, USED, Index, closure, kinds_to_read, missing, refs
from drkit.backup.verify import reference_problems
from drkit.restore.apply import blocker
from drkit.restore.plan import Step

PROD = "https://prod.k8s.example.com:6443"
GUESTBOOK = "https://git.example.com/apps/guestbook.git"


def app(name: str = "billing", **spec: object) -> dict:
    body = {"project": "team", "source": {"repoURL": GUESTBOOK}, "destination": {"server": PROD, "namespace": "x"}}
    return {"metadata": {"name": name, "namespace": "argocd"}, "spec": body | spec}


def appset(name: str = "envs", **spec: object) -> dict:
    return {"metadata": {"name": name, "namespace": "argocd"}, "spec": {"template": {"spec": app(**spec)["spec"]}}}


def generated(name: str, owner: str) -> dict:
    doc = app(name)
    doc["metadata"]["ownerReferences"] = [
        {"kind": "ApplicationSet", "name": owner, "apiVersion": "argoproj.io/v1alpha1"}
    ]
    return doc


def test_an_application_refers_to_project_cluster_repository_template_and_its_set() -> None:
    got = [(r.kind, r.by, r.value, r.need) for r in refs("applications", generated("one", "envs"))]
    assert got == [
        ("projects", "name", "team", REQUIRED),
        ("clusters", "server", PROD, REQUIRED),
        ("repositories", "url", "https://git.example.com/apps/guestbook", USED),
        ("repocreds", "prefix", "https://git.example.com/apps/guestbook", MAY_USE),
        ("applicationsets", "name", "argocd/envs", REQUIRED),
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"project": ""}, ("projects", "name", "default")),  # an empty project is the default one, as in Argo CD
        ({"destination": {"server": PROD + "/"}}, ("clusters", "server", PROD)),  # trailing / trimmed
        ({"destination": {"name": "prod"}}, ("clusters", "name", "prod")),
        (
            {"sources": [{"repoURL": "git@github.com:Org/Infra.git"}]},
            ("repositories", "url", "git@github.com/org/infra"),
        ),
    ],
)
def test_refs_are_normalised_as_argo_cd_compares(spec: dict, expected: tuple[str, str, str]) -> None:
    assert expected in [(r.kind, r.by, r.value) for r in refs("applications", app(**spec))]


def test_templated_values_of_an_applicationset_are_not_references() -> None:
    doc = appset(project="{{project}}", destination={"server": "{{server}}"}, source={"repoURL": "{{repo}}"})
    assert refs("applicationsets", doc) == []


def test_every_ref_points_to_an_earlier_kind_in_restore_order() -> None:
    """The apply blocker only sees failures of kinds already written, so a ref forward would never block."""
    docs = {
        "applications": generated("one", "envs"),
        "applicationsets": appset(),
        "repositories": {"repo": GUESTBOOK},
    }
    for kind, doc in docs.items():
        assert refs(kind, doc), kind
        for ref in refs(kind, doc):
            assert RESTORE_ORDER.index(ref.kind) < RESTORE_ORDER.index(kind), (kind, ref)


def test_kinds_to_read_follow_each_rows_depends_on() -> None:
    assert kinds_to_read(["applications"]) == ("repocreds", "repositories", "clusters", "projects", "applications")
    assert kinds_to_read(["gpgkeys"]) == ("gpgkeys",)
    for kind in RESTORE_ORDER:  # whatever a kind's refs may name among the kinds it reads, it reads
        assert set(KINDS[kind].depends_on) <= set(kinds_to_read([kind]))


def test_closure_brings_what_the_chosen_objects_need_transitively() -> None:
    objects = {
        "repocreds": [{"url": "https://git.example.com/"}, {"url": "https://other.example.com/"}],
        "repositories": [{"repo": GUESTBOOK}, {"repo": "https://git.example.com/unused.git"}],
        "clusters": [{"server": PROD, "name": "prod"}, {"server": "https://dev:6443", "name": "dev"}],
        "projects": [{"metadata": {"name": "team"}}, {"metadata": {"name": "other"}}],
        "applicationsets": [appset("envs"), appset("unrelated")],
        "applications": [generated("one", "envs")],
    }
    got = closure(objects, {"applications": objects["applications"]})
    assert got["repocreds"] == [{"url": "https://git.example.com/"}]
    assert got["repositories"] == [{"repo": GUESTBOOK}]
    assert got["clusters"] == [{"server": PROD, "name": "prod"}]
    assert got["projects"] == [{"metadata": {"name": "team"}}]
    assert [s["metadata"]["name"] for s in got["applicationsets"]] == ["envs"]


def test_index_finds_by_name_server_and_every_covering_prefix() -> None:
    index = Index({"clusters": [{"server": PROD, "name": "prod"}], "repocreds": [{"url": "https://git.example.com"},
                   {"url": "https://git.example.com/apps"}]})  # fmt: skip
    [by_name] = [r for r in refs("applications", app(destination={"name": "prod"})) if r.kind == "clusters"]
    assert index.find(by_name) == [{"server": PROD, "name": "prod"}]
    [template] = [r for r in refs("applications", app()) if r.kind == "repocreds"]
    assert len(index.find(template)) == 2


def test_a_failed_cluster_blocks_apps_and_applicationsets_but_a_failed_template_only_repositories() -> None:
    broken = Index({"clusters": [{"server": PROD}], "repocreds": [{"url": "https://git.example.com/"}]})
    assert blocker(Step("applications", "argocd/billing", "create", app()), broken) == f"cluster {PROD}"
    assert blocker(Step("applicationsets", "argocd/envs", "create", appset()), broken) == f"cluster {PROD}"
    in_cluster = app(destination={"server": "https://kubernetes.default.svc"})
    assert blocker(Step("applications", "argocd/x", "create", in_cluster), broken) is None  # a template: MAY_USE
    repo = Step("repositories", GUESTBOOK, "create", {"repo": GUESTBOOK})
    assert blocker(repo, broken) == "repository credentials https://git.example.com/"


def test_verify_reports_required_refs_only_and_counts_what_every_argo_cd_has() -> None:
    objects = {
        "projects": [],
        "clusters": [{"server": PROD}],
        "applicationsets": [],
        "applications": [
            app("ok", project="", destination={"server": PROD + "/"}),  # default project, trailing slash
            app("in", project="default", destination={"name": "in-cluster"}),
            app("lost", destination={"name": "gone"}),  # project team and cluster gone are missing
            generated("child", "envs"),
        ],
    }
    assert reference_problems(objects) == [
        "applications/argocd/lost: project 'team' is not in the backup",
        "applications/argocd/lost: destination cluster named 'gone' is not in the backup",
        "applications/argocd/child: project 'team' is not in the backup",
        "applications/argocd/child: generating ApplicationSet 'envs' is not in the backup",
    ]
    assert [r.what for _, _, r in missing(objects, {"clusters"})] == ["destination cluster named 'gone'"]

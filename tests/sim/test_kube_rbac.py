"""RBAC in the simulated Kubernetes API: namespaced Role rules, evaluated as kube-apiserver's RBAC authorizer does.

The rules follow https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources, the 403
wording kube-apiserver's authorization filter (responsewriters.forbiddenMessage), both cited in
drkit/testing/kube/rbac.py and status.py.
"""

from __future__ import annotations

import pytest

from tests.sim.conftest import Kube

SA = "system:serviceaccount:argocd:drkit"


def test_the_forbidden_message_is_kube_apiservers(ksim) -> None:
    """The exact form: `<resource> "<name>" is forbidden: User "<user>" cannot <verb> resource "<resource>" in
    API group "" in the namespace "<namespace>"`, 403 reason Forbidden, details naming the object."""
    token = ksim.kube_grant(SA, [{"verbs": ["get"], "resources": ["configmaps"]}])
    r = Kube(ksim, token)("GET", "/api/v1/namespaces/argocd/secrets/argocd-secret")
    assert r.status_code == 403
    assert r.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'secrets "argocd-secret" is forbidden: User "system:serviceaccount:argocd:drkit" cannot get '
        'resource "secrets" in API group "" in the namespace "argocd"',
        "reason": "Forbidden",
        "details": {"name": "argocd-secret", "kind": "secrets"},
        "code": 403,
    }
    listed = Kube(ksim, token)("GET", "/api/v1/namespaces/argocd/secrets")
    assert listed.json()["message"] == (
        'secrets is forbidden: User "system:serviceaccount:argocd:drkit" cannot list resource "secrets" in API '
        'group "" in the namespace "argocd"'
    )
    assert listed.json()["details"] == {"kind": "secrets"}


def test_resource_names_restrict_get_update_and_delete(ksim) -> None:
    """ "When specified, requests can be restricted to individual instances of a resource": a rule with
    resourceNames allows those names only."""
    token = ksim.kube_grant("reader", [{"verbs": ["get", "update"], "resources": ["configmaps"],
                                        "resourceNames": ["argocd-cm"]}])  # fmt: skip
    reader = Kube(ksim, token)
    assert reader("GET", "/api/v1/namespaces/argocd/configmaps/argocd-cm").status_code == 200
    other = reader("GET", "/api/v1/namespaces/argocd/configmaps/argocd-rbac-cm")
    assert other.status_code == 403 and other.json()["details"]["name"] == "argocd-rbac-cm"
    assert reader("DELETE", "/api/v1/namespaces/argocd/configmaps/argocd-cm").status_code == 403


def test_list_with_resource_names_needs_a_matching_name_field_selector(ksim) -> None:
    """ "If you restrict list or watch by resourceName, clients must include a metadata.name field selector in
    their list or watch request that matches the specified resourceName in order to be authorized." """
    token = ksim.kube_grant(
        "lister", [{"verbs": ["list"], "resources": ["secrets"], "resourceNames": ["argocd-secret"]}]
    )
    lister = Kube(ksim, token)
    path = "/api/v1/namespaces/argocd/secrets"
    assert lister("GET", path).status_code == 403
    named = lister("GET", path, params={"fieldSelector": "metadata.name=argocd-secret"})
    assert named.status_code == 200 and [s["metadata"]["name"] for s in named.json()["items"]] == ["argocd-secret"]
    wrong = lister("GET", path, params={"fieldSelector": "metadata.name=oidc-secret"})
    assert wrong.status_code == 403 and wrong.json()["message"].startswith('secrets "oidc-secret" is forbidden')
    assert lister("GET", path, params={"labelSelector": "a=b"}).status_code == 403


def test_create_cannot_be_restricted_by_resource_name(ksim) -> None:
    """ "You cannot restrict create or deletecollection requests by their resource name": a create carries no
    name to the authorizer, so a rule with resourceNames never allows it; one without does."""
    named = Kube(
        ksim, ksim.kube_grant("named", [{"verbs": ["create"], "resources": ["secrets"], "resourceNames": ["x"]}])
    )
    r = named("POST", "/api/v1/namespaces/argocd/secrets", {"metadata": {"name": "x"}})
    assert r.status_code == 403
    assert r.json()["message"] == (
        'secrets is forbidden: User "named" cannot create resource "secrets" in API group "" in the namespace "argocd"'
    )
    plain = Kube(ksim, ksim.kube_grant("plain", [{"verbs": ["create"], "resources": ["secrets"]}]))
    assert plain("POST", "/api/v1/namespaces/argocd/secrets", {"metadata": {"name": "x"}}).status_code == 201


def test_rules_are_per_namespace_and_need_the_core_group(ksim) -> None:
    """A Role grants in its own namespace only; a rule applies to the core group through apiGroups "" (or "*");
    a list across namespaces needs a ClusterRole, which no token here has. Verbs and resources take "*"."""
    ksim.kube.add_namespace("other")
    token = ksim.kube_grant("ns-admin", [{"verbs": ["*"], "resources": ["*"]}])
    admin = Kube(ksim, token)
    assert admin("GET", "/api/v1/namespaces/argocd/secrets").status_code == 200
    assert admin("GET", "/api/v1/namespaces/other/secrets").status_code == 403
    everywhere = admin("GET", "/api/v1/secrets")
    assert everywhere.status_code == 403 and everywhere.json()["message"].endswith("at the cluster scope")
    apps = Kube(ksim, ksim.kube_grant("apps", [{"apiGroups": ["apps"], "verbs": ["*"], "resources": ["*"]}]))
    assert apps("GET", "/api/v1/namespaces/argocd/secrets").status_code == 403


def test_the_default_token_has_the_namespace_and_requests_are_recorded(ksim, kube) -> None:
    """The simulator's own token: every verb on ConfigMaps and Secrets of Argo CD's namespace. The server keeps
    (user, verb, resource, namespace, name, status) of each request for least-privilege checks, never a body."""
    assert kube("GET", kube.secrets("argocd-secret")).status_code == 200
    seen = ksim.kube_api.requests[-1]
    assert (seen.user, seen.verb, seen.resource, seen.namespace, seen.name, seen.status) == (
        SA, "get", "secrets", "argocd", "argocd-secret", 200,
    )  # fmt: skip


@pytest.mark.parametrize("rules", [[{"verbs": ["get"]}], [{"resources": ["secrets"]}]])
def test_rules_need_verbs(ksim, rules) -> None:
    """A PolicyRule without verbs is refused when configured (verbs are required); one without resources
    grants nothing."""
    if "verbs" not in rules[0]:
        with pytest.raises(ValueError):
            ksim.kube_grant("bad", rules)
        return
    token = ksim.kube_grant("nothing", rules)
    assert Kube(ksim, token)("GET", "/api/v1/namespaces/argocd/secrets/argocd-secret").status_code == 403

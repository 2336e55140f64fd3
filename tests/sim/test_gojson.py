"""Go encoding/json semantics of request bodies, driven by swagger.json (API-NOTES §1.1, §6 item 5)."""

import pytest

from drkit.testing import gojson

PROJECT_SPEC = {"$ref": "#/definitions/v1alpha1AppProjectSpec"}
REPOSITORY = {"$ref": "#/definitions/v1alpha1Repository"}


def test_unknown_fields_are_dropped():
    """§6.5: encoding/json ignores fields the Go type does not have."""
    assert gojson.decode({"repo": "https://x", "bogus": 1}, REPOSITORY) == {"repo": "https://x"}


def test_empty_omitempty_values_vanish():
    """§6.5: empty strings, false and empty lists of omitempty fields are not stored."""
    assert gojson.decode({"repo": "https://x", "name": "", "insecure": False, "depth": 0}, REPOSITORY) == {
        "repo": "https://x"
    }


def test_quoted_int64_is_rejected():
    """§6.5: an int64 must be a JSON number; a quoted one fails to decode."""
    with pytest.raises(gojson.DecodeError):
        gojson.decode({"repo": "https://x", "githubAppID": "123"}, REPOSITORY)


def test_bytes_must_be_base64():
    """§1.1: []byte fields are base64 strings."""
    cluster = {"$ref": "#/definitions/v1alpha1Cluster"}
    with pytest.raises(gojson.DecodeError):
        gojson.decode({"server": "https://x", "config": {"tlsClientConfig": {"caData": "not base64!"}}}, cluster)


def test_non_omitempty_fields_are_written_with_their_zero_value():
    """§1.1: GroupKind.group and JWTToken.iat have no omitempty (the CRDs require them), so Go writes them."""
    decoded = gojson.decode(
        {"clusterResourceWhitelist": [{"kind": "Namespace"}], "roles": [{"name": "r", "jwtTokens": [{"id": "a"}]}]},
        PROJECT_SPEC,
    )
    assert decoded["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    assert decoded["roles"][0]["jwtTokens"] == [{"id": "a", "iat": 0}]


def test_pointer_bool_keeps_false():
    """automated.enabled is a *bool in Argo CD: false is meaningful (auto-sync disarmed) and kept."""
    policy = {"$ref": "#/definitions/v1alpha1SyncPolicyAutomated"}
    assert gojson.decode({"enabled": False, "prune": False}, policy) == {"enabled": False}


def test_an_empty_struct_is_kept():
    """`automated: {}` turns auto-sync on: Go keeps a non-nil struct pointer, so the field must survive."""
    policy = {"$ref": "#/definitions/v1alpha1SyncPolicy"}
    assert gojson.decode({"automated": {}, "syncOptions": []}, policy) == {"automated": {}}


def test_an_empty_map_is_omitted():
    """Maps are omitempty: `labels: {}` vanishes."""
    meta = {"$ref": "#/definitions/v1ObjectMeta"}
    assert gojson.decode({"name": "a", "labels": {}}, meta) == {"name": "a"}


def test_int_or_string_takes_either():
    """intstr.IntOrString marshals as a bare number or string (kustomize replicas count)."""
    replica = {"$ref": "#/definitions/v1alpha1KustomizeReplica"}
    assert gojson.decode({"name": "web", "count": 3}, replica) == {"name": "web", "count": 3}
    assert gojson.decode({"name": "web", "count": "3"}, replica) == {"name": "web", "count": "3"}


def test_inline_embedded_struct_fields_belong_to_the_parent():
    """SyncStrategyHook embeds SyncStrategyApply inline: `{"hook": {"force": true}}` keeps force."""
    strategy = {"$ref": "#/definitions/v1alpha1SyncStrategy"}
    assert gojson.decode({"hook": {"force": True}}, strategy) == {"hook": {"force": True}}

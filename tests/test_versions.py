"""The version facts: which fields a target at version V drops from an object, and what losing each does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from drkit.argocd.kinds import KINDS
from drkit.argocd.versions import (
    COSMETIC,
    EFFECTS,
    FACTS,
    GENERATOR_SELECTION,
    PRESENT,
    PROJECT_RESTRICTIONS,
    RENDERING,
    SYNC_POLICY,
    dropped,
    parse_version,
)
from drkit.testing import versions as sim_versions

MIRROR = Path("/work/.mirror/argoproj+argo-cd/repo")


def paths(kind: str, doc: dict, version: str) -> list[tuple[str, str]]:
    parsed = parse_version(version)
    assert parsed is not None
    return [(d.path, d.effect) for d in dropped(kind, doc, parsed)]


APP = {
    "metadata": {"name": "billing", "namespace": "argocd"},
    "spec": {
        "project": "default",
        "sources": [
            {"repoURL": "https://charts.example.com", "chart": "x", "name": "chart", "helm": {"skipTests": True}},
            {"repoURL": "https://git.example.com/x.git", "path": "p", "tagPrefix": "v"},
        ],
        "syncPolicy": {"automated": {"prune": True, "enabled": False}, "retry": {"limit": 2, "refresh": True}},
    },
}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("v3.5.1+abc1234", []),
        ("v3.4.0", [("spec.sources[1].tagPrefix", RENDERING)]),
        ("v3.1.2", [("spec.sources[1].tagPrefix", RENDERING), ("spec.syncPolicy.retry.refresh", SYNC_POLICY)]),
        (
            "v3.0.14",
            [
                ("spec.sources[1].tagPrefix", RENDERING),
                ("spec.syncPolicy.automated.enabled", SYNC_POLICY),
                ("spec.syncPolicy.retry.refresh", SYNC_POLICY),
            ],
        ),
        (
            "v2.13.9",
            [
                ("spec.sources[0].helm.skipTests", RENDERING),
                ("spec.sources[0].name", COSMETIC),
                ("spec.sources[1].tagPrefix", RENDERING),
                ("spec.syncPolicy.automated.enabled", SYNC_POLICY),
                ("spec.syncPolicy.retry.refresh", SYNC_POLICY),
            ],
        ),
    ],
)
def test_what_each_version_drops_from_an_application(version: str, expected: list[tuple[str, str]]) -> None:
    assert paths("applications", APP, version) == expected  # metadata.name is never taken for source.name


def test_an_applicationset_template_and_nested_generators_are_searched() -> None:
    appset = {
        "metadata": {"name": "envs", "namespace": "argocd"},
        "spec": {
            "generators": [
                {
                    "matrix": {
                        "generators": [
                            {"git": {"files": [{"path": "a/*.json"}, {"path": "a/x", "exclude": True}]}},
                            {"clusters": {"flatList": True}},
                        ]
                    }
                },  # fmt: skip
            ],
            "template": {"spec": {"syncPolicy": {"automated": {"enabled": False}}}},
        },
    }
    assert paths("applicationsets", appset, "v3.0.0") == [
        ("spec.generators[0].matrix.generators[0].git.files[1].exclude", GENERATOR_SELECTION),
        ("spec.template.spec.syncPolicy.automated.enabled", SYNC_POLICY),
    ]
    older = paths("applicationsets", appset, "v2.13.0")
    assert ("spec.generators[0].matrix.generators[1].clusters.flatList", GENERATOR_SELECTION) in older


def test_project_restrictions_and_the_policy_flag() -> None:
    project = {
        "metadata": {"name": "team"},
        "spec": {
            "clusterResourceWhitelist": [
                {"group": "", "kind": "Namespace", "name": "team-*"},
                {"group": "x", "kind": "Y"},
            ],
            "syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h", "description": "freeze"}],
        },
    }
    found = dropped("projects", project, (3, 0, 0))
    assert [(d.path, d.effect, d.policy) for d in found] == [
        ("spec.clusterResourceWhitelist[0].name", PROJECT_RESTRICTIONS, True),
        ("spec.syncWindows[0].description", COSMETIC, False),
    ]
    assert found[0].fact.source == "v3.3.0 pkg/apis/application/v1alpha1/types.go ClusterResourceRestrictionItem"


def test_a_value_fact_matches_only_that_value() -> None:
    assert [d.path for d in dropped("repositories", {"repo": "r", "type": "oci"}, (3, 0, 0))] == ["type"]
    assert dropped("repositories", {"repo": "r", "type": "helm"}, (3, 0, 0)) == []
    assert dropped("repocreds", {"url": "u", "type": "oci"}, (3, 0, 0)) == []


@pytest.mark.parametrize(
    ("text", "version"),
    [("v3.0.14+abc1234", (3, 0, 14)), ("3.1.0", (3, 1, 0)), ("v2.14.16-rc1", (2, 14, 16)), ("", None), ("dev", None)],
)
def test_parse_version(text: str, version: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == version


def test_every_fact_is_well_formed_and_reachable_from_its_kinds_row() -> None:
    assert len(FACTS) >= 50
    for fact in FACTS:
        assert fact.effect in EFFECTS and fact.kinds and set(fact.kinds) <= set(KINDS), fact
        major, minor, patch = fact.since
        assert fact.source.startswith(f"v{major}.{minor}.{patch} ") and ".go" in fact.source, fact
        assert (2, 10, 0) < fact.since <= (3, 5, 1), fact  # a release tag this table was checked at
        for kind in fact.kinds:
            assert fact in KINDS[kind].facts


def _tags() -> list[str]:
    out = subprocess.run(["git", "-C", str(MIRROR), "tag"], capture_output=True, text=True, check=True).stdout.split()
    tags = [t for t in out if re.fullmatch(r"v\d+\.\d+\.\d+", t)]
    return sorted(tags, key=lambda t: tuple(int(x) for x in t[1:].split(".")))


def _struct(tag: str, file: str, name: str) -> str:
    text = subprocess.run(["git", "-C", str(MIRROR), "show", f"{tag}:{file}"], capture_output=True, text=True).stdout
    found = re.search(rf"^type {name} struct \{{\n(.*?)^\}}", text, re.S | re.M)
    return found.group(1) if found else ""


@pytest.mark.skipif(not MIRROR.exists(), reason="Argo CD's source mirror is not on this machine")
def test_each_field_fact_holds_at_its_tag_and_not_at_the_release_before() -> None:
    tags = _tags()
    for fact in [f for f in FACTS if f.value is PRESENT or isinstance(f.value, bool)]:  # a new field, not a value
        since, file, *structs = fact.source.split()
        field = fact.path.split(".")[-1].removesuffix("[]")
        before = [t for t in tags if tuple(int(x) for x in t[1:].split(".")) < fact.since][-1]
        for struct in [s for s in structs if s != "and"]:
            assert re.search(rf'json:"{field}[,"]', _struct(since, file, struct)), (fact, since)
            assert not re.search(rf'json:"{field}[,"]', _struct(before, file, struct)), (fact, before)


def _field_rows() -> set[tuple[str, str, tuple[int, int, int]]]:
    """(swagger definition, JSON name, first version) of every row about a new field (not a new value)."""
    out = set()
    for fact in [f for f in FACTS if f.value is PRESENT or isinstance(f.value, bool)]:
        _, _, *structs = fact.source.split()
        field = fact.path.split(".")[-1].removesuffix("[]")
        out |= {(f"v1alpha1{struct}", field, fact.since) for struct in structs if struct != "and"}
    return out


def test_the_table_and_the_simulator_agree() -> None:
    """drkit's table and the simulator's FIELDS were each read from Argo CD's source on their own: every
    (struct, field, first version) is in both, and the controller's reading of `enabled` starts where the field does.
    """
    sim = {(f.type, f.name, (f.since.major, f.since.minor, f.since.patch)) for f in sim_versions.FIELDS}
    drkit = _field_rows()
    assert drkit - sim == set(), "in drkit's table only"
    assert sim - drkit == set(), "in the simulator only"
    enabled = next(f for f in FACTS if f.path.endswith("automated.enabled"))
    assert enabled.since == (sim_versions.AUTOMATED_ENABLED.major, sim_versions.AUTOMATED_ENABLED.minor, 0)
    assert enabled.value is False  # absent means enabled (v3.1.0 types.go IsAutomatedSyncEnabled)


def test_user_keys_are_not_mistaken_for_fields() -> None:
    """A Helm value or a list element that happens to be called like a field is the user's, not Argo CD's."""
    app = {"spec": {"source": {"helm": {"valuesObject": {"helm": {"namespace": "x"}}}}}}
    assert dropped("applications", app, (2, 12, 0)) == []
    appset = {"spec": {"generators": [{"list": {"elements": [{"git": {"files": [{"exclude": True}]}}]}}]}}
    assert dropped("applicationsets", appset, (3, 0, 0)) == []

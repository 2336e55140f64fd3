"""Remap rules and selection: pure functions over backup documents."""

from __future__ import annotations

import pytest

from drkit.errors import ConfigError
from drkit.restore.apply import RestoreOptions
from drkit.restore.remap import parse_rules, remap, select

OLD = "https://10.0.0.1:6443"
NEW = "https://10.9.0.1:6443"


def app(name: str, project: str = "default", server: str = OLD, repo: str = "https://git.example.com/a/app.git"):
    return {
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": project,
            "source": {"repoURL": repo, "path": "."},
            "destination": {"server": server, "namespace": "x"},
        },
    }


def objects() -> dict:
    return {
        "repocreds": [{"url": "https://git.example.com/a"}, {"url": "https://other.example.com"}],
        "repositories": [{"repo": "https://git.example.com/a/app.git"}, {"repo": "https://git.example.com/b/x.git"}],
        "clusters": [{"server": OLD, "name": "prod"}, {"server": "https://10.0.0.2:6443", "name": "dev"}],
        "projects": [
            {
                "metadata": {"name": "team"},
                "spec": {
                    "sourceRepos": ["https://git.example.com/a/app.git", "https://git.example.com/a/*"],
                    "destinations": [{"server": OLD, "namespace": "*"}, {"name": "prod", "namespace": "*"}],
                },
            },
            {"metadata": {"name": "other"}, "spec": {}},
        ],
        "applicationsets": [
            {
                "metadata": {"name": "set", "namespace": "argocd"},
                "spec": {
                    "generators": [{"git": {"repoURL": "https://git.example.com/a/app.git", "revision": "HEAD"}}],
                    "template": {"spec": app("t", "team")["spec"]},
                },
            }
        ],
        "applications": [
            app("one", "team"),
            {
                "metadata": {"name": "multi", "namespace": "argocd"},
                "spec": {
                    "project": "other",
                    "sources": [{"repoURL": "https://git.example.com/b/x.git", "path": "."}],
                    "sourceHydrator": {"drySource": {"repoURL": "https://git.example.com/a/APP", "path": "."}},
                    "destination": {"name": "dev", "namespace": "y"},
                },
            },
        ],
    }


def test_parse_rules() -> None:
    assert parse_rules([f"{OLD}={NEW}", "prod=prod-2"], "--remap-cluster") == {OLD: NEW, "prod": "prod-2"}
    for bad in ("no-equals", "=new", "old="):
        with pytest.raises(ConfigError, match="is not OLD=NEW"):
            parse_rules([bad], "--remap-cluster")
    with pytest.raises(ConfigError, match="given twice"):
        parse_rules(["a=b", "a=c"], "--remap-repo")


def test_cluster_server_rule_lands_everywhere() -> None:
    result = remap(objects(), {OLD: NEW}, {})
    out = result.objects
    assert out["clusters"][0]["server"] == NEW
    assert out["projects"][0]["spec"]["destinations"][0]["server"] == NEW
    assert out["applications"][0]["spec"]["destination"]["server"] == NEW
    assert out["applicationsets"][0]["spec"]["template"]["spec"]["destination"]["server"] == NEW
    assert result.counts == {f"{OLD}={NEW}": 4}


def test_cluster_name_rule() -> None:
    out = remap(objects(), {"dev": "dev-2", "prod": "prod-2"}, {}).objects
    assert out["clusters"][1]["name"] == "dev-2"
    assert out["applications"][1]["spec"]["destination"]["name"] == "dev-2"
    assert out["projects"][0]["spec"]["destinations"][1]["name"] == "prod-2"


def test_exact_repo_rule_uses_same_url_rules() -> None:
    new = "https://git.new.example.com/a/app.git"
    result = remap(objects(), {}, {"https://GIT.example.com/a/app": new})
    out = result.objects
    assert out["repositories"][0]["repo"] == new
    assert out["applications"][0]["spec"]["source"]["repoURL"] == new
    assert out["applications"][1]["spec"]["sourceHydrator"]["drySource"]["repoURL"] == new  # case and .git differ
    assert out["applicationsets"][0]["spec"]["generators"][0]["git"]["repoURL"] == new
    assert out["projects"][0]["spec"]["sourceRepos"][0] == new
    assert out["repositories"][1]["repo"] == "https://git.example.com/b/x.git"


def test_prefix_repo_rule() -> None:
    result = remap(objects(), {}, {"https://git.example.com/": "https://git.new.example.com/"})
    out = result.objects
    assert out["repocreds"][0]["url"] == "https://git.new.example.com/a"
    assert out["repocreds"][1]["url"] == "https://other.example.com"
    assert out["repositories"][1]["repo"] == "https://git.new.example.com/b/x.git"
    assert out["applications"][1]["spec"]["sources"][0]["repoURL"] == "https://git.new.example.com/b/x.git"
    assert out["projects"][0]["spec"]["sourceRepos"][1] == "https://git.new.example.com/a/*"


def test_remap_is_pure() -> None:
    before = objects()
    remap(before, {OLD: NEW}, {"https://git.example.com/": "https://x/"})
    assert before == objects()


def test_unmatched_rule_is_refused_with_near_values() -> None:
    with pytest.raises(ConfigError) as err:
        remap(objects(), {"https://10.0.0.1:6434": NEW}, {})
    assert "--remap-cluster https://10.0.0.1:6434=" in str(err.value)
    assert "matches nothing" in str(err.value) and OLD in str(err.value)
    with pytest.raises(ConfigError, match="--remap-repo https://gti.example.com/=.*near values"):
        remap(objects(), {}, {"https://gti.example.com/": "https://x/"})


def test_select_everything_without_filters() -> None:
    assert select(objects(), RestoreOptions()) == {k: v for k, v in objects().items()} | {
        "certificates": [],
        "gpgkeys": [],
    }


def test_select_app_pulls_in_its_closure() -> None:
    out = select(objects(), RestoreOptions(apps=("mul*",)))
    assert [a["metadata"]["name"] for a in out["applications"]] == ["multi"]
    assert [p["metadata"]["name"] for p in out["projects"]] == ["other"]
    assert [c["name"] for c in out["clusters"]] == ["dev"]  # by destination name
    # sources[] and the hydrator's dry source (same repository under SameURL: case and `.git` ignored)
    assert {r["repo"] for r in out["repositories"]} == {r["repo"] for r in objects()["repositories"]}
    assert [c["url"] for c in out["repocreds"]] == ["https://git.example.com/a"]  # prefixes the hydrator repo
    assert out["applicationsets"] == []


def test_select_by_project_and_namespaced_glob() -> None:
    out = select(objects(), RestoreOptions(projects=("team",)))
    assert [a["metadata"]["name"] for a in out["applications"]] == ["one"]
    assert [s["metadata"]["name"] for s in out["applicationsets"]] == ["set"]
    assert [c["server"] for c in out["clusters"]] == [OLD]
    out = select(objects(), RestoreOptions(apps=("argocd/one",), kinds=("applications", "projects")))
    # the closure kinds come along, holding only what the selected app needs (created only where missing)
    assert set(out) == {"applications", "projects", "clusters", "repositories", "repocreds"}
    assert [p["metadata"]["name"] for p in out["projects"]] == ["team"]
    assert [c["server"] for c in out["clusters"]] == [OLD]

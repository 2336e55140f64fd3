"""Which object fields each Argo CD version knows, and what a target that lacks one does to an object.

Argo CD decodes request bodies with Go `encoding/json` and no `DisallowUnknownFields` (`util/grpc/json.go`), so
a field the target's types do not know is dropped without an error (VERSIONS.md). Each row of FACTS was read
from the JSON tags in Argo CD's source at the tag it cites, and checked absent at the release before it.
`dropped(kind, doc, version)` answers: which fields of this object would a target at `version` drop, and what
class of effect is each?
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

Version = tuple[int, int, int]

# What losing a field does, worst first.
SYNC_POLICY = "sync policy"  # the object syncs (or deletes) when the backup said it must not
PROJECT_RESTRICTIONS = "project restrictions"  # a project allows more than the backup's
GENERATOR_SELECTION = "generator selection"  # an ApplicationSet generates more (or other) apps
RENDERING = "rendering"  # the app renders different manifests
CREDENTIALS = "credentials"  # a credential is lost: connections fail, or fall back to other credentials
COSMETIC = "cosmetic"  # nothing the controller acts on changes
EFFECTS = (SYNC_POLICY, PROJECT_RESTRICTIONS, GENERATOR_SELECTION, RENDERING, CREDENTIALS, COSMETIC)
POLICY_EFFECTS = frozenset({SYNC_POLICY, PROJECT_RESTRICTIONS, GENERATOR_SELECTION, RENDERING})

TYPES = "pkg/apis/application/v1alpha1/types.go"
APPSET_TYPES = "pkg/apis/application/v1alpha1/applicationset_types.go"
PROJECT_TYPES = "pkg/apis/application/v1alpha1/app_project_types.go"
REPO_TYPES = "pkg/apis/application/v1alpha1/repository_types.go"
PRESENT = object()  # a Fact about a field being there at all, whatever its value

_APP = ("applications",)
_APP_AND_TEMPLATE = ("applications", "applicationsets")
_SET = ("applicationsets",)
_PROJECT = ("projects",)
_REPO = ("repositories",)
_REPO_AND_CREDS = ("repositories", "repocreds")
_CLUSTER = ("clusters",)


@dataclass(frozen=True)
class Fact:
    """A field `kinds` carry from Argo CD `since` on; an older target drops it with `effect`.

    `path` is dotted; `x[]` means every item of list `x`, `**` any depth (a source may sit in `spec.source`,
    `spec.sources[]`, a hydrator's dry source or an ApplicationSet template). `source` is the tag and file the
    row was read from. `value`, when set, limits the fact to that value (a new enum member).
    """

    kinds: tuple[str, ...]
    path: str
    since: Version
    effect: str
    source: str
    value: Any = PRESENT
    note: str = ""


def _v(text: str) -> Version:
    major, minor, patch = (int(p) for p in text.split("."))
    return (major, minor, patch)


def _app(path: str, since: str, effect: str, struct: str, note: str = "") -> tuple[Fact, ...]:
    """An Application spec field, also in every ApplicationSet template (`**` finds both)."""
    return (Fact(_APP_AND_TEMPLATE, path, _v(since), effect, f"v{since} {TYPES} {struct}", note=note),)


def _sources(field: str, since: str, effect: str) -> tuple[Fact, ...]:
    """A field of ApplicationSource, in `source` and in each of `sources[]`."""
    return _app(f"**.source.{field}", since, effect, "ApplicationSource") + _app(
        f"**.sources[].{field}", since, effect, "ApplicationSource"
    )


def _set(path: str, since: str, effect: str, struct: str) -> Fact:
    return Fact(_SET, path, _v(since), effect, f"v{since} {APPSET_TYPES} {struct}")


def _project(path: str, since: str, effect: str, struct: str) -> Fact:
    return Fact(_PROJECT, path, _v(since), effect, f"v{since} {TYPES} {struct}")  # AppProjectSpec is in types.go


def _repo(kinds: tuple[str, ...], field: str, since: str, effect: str) -> Fact:
    structs = "Repository and RepoCreds" if len(kinds) == 2 else "Repository"
    return Fact(kinds, field, _v(since), effect, f"v{since} {REPO_TYPES} {structs}")


def _cluster(path: str, since: str, effect: str, struct: str) -> Fact:
    return Fact(_CLUSTER, path, _v(since), effect, f"v{since} {TYPES} {struct}")


# Each row was checked at its tag in Argo CD's source: present there (and at every later release tag through
# v3.5.1), absent at every tag before it from v2.10.0 (the struct's JSON tags, `git show <tag>:<file>`).
FACTS: tuple[Fact, ...] = (
    # Application spec (and ApplicationSet template): sync policy and rendering
    # only `false` is lost: absent means enabled (v3.1.0 types.go IsAutomatedSyncEnabled)
    Fact(_APP_AND_TEMPLATE, "**.syncPolicy.automated.enabled", _v("3.1.0"), SYNC_POLICY,
         f"v3.1.0 {TYPES} SyncPolicyAutomated", value=False,
         note="v3.0.0's controller syncs any app that has `automated`: sent disarmed, it arrives armed"),
    *_app("**.syncPolicy.retry.refresh", "3.2.0", SYNC_POLICY, "RetryStrategy"),
    *_app("**.sourceHydrator", "2.14.0", RENDERING, "ApplicationSpec",
          note="v2.13 refuses the create: without it the spec has no source (v2.13.0 util/argo/argo.go)"),
    *(f for name in ("helm", "kustomize", "directory", "plugin")
      for f in _app(f"**.drySource.{name}", "3.3.0", RENDERING, "DrySource")),
    *_sources("name", "2.14.0", COSMETIC),
    *_sources("tagPrefix", "3.5.0", RENDERING),
    *(f for name in ("namespace", "kubeVersion", "apiVersions")
      for f in _app(f"**.helm.{name}", "2.13.0", RENDERING, "ApplicationSourceHelm")),
    *(f for name in ("skipTests", "skipSchemaValidation")
      for f in _app(f"**.helm.{name}", "2.14.0", RENDERING, "ApplicationSourceHelm")),
    *_app("**.kustomize.labelWithoutSelector", "2.11.0", RENDERING, "ApplicationSourceKustomize"),
    *(f for name in ("kubeVersion", "apiVersions")
      for f in _app(f"**.kustomize.{name}", "2.13.0", RENDERING, "ApplicationSourceKustomize")),
    *(f for name in ("ignoreMissingComponents", "labelIncludeTemplates")
      for f in _app(f"**.kustomize.{name}", "3.0.0", RENDERING, "ApplicationSourceKustomize")),
    # ApplicationSet generators and strategy (generators nest in matrix and merge: `**`)
    _set("**.git.files[].exclude", "3.1.0", GENERATOR_SELECTION, "GitFileGeneratorItem"),
    _set("**.clusters.flatList", "2.14.0", GENERATOR_SELECTION, "ClusterGenerator"),
    _set("**.pullRequest.values", "3.0.0", GENERATOR_SELECTION, "PullRequestGenerator"),
    _set("**.pullRequest.continueOnRepoNotFoundError", "3.2.0", GENERATOR_SELECTION, "PullRequestGenerator"),
    _set("**.pullRequest.filters[].titleMatch", "3.2.0", GENERATOR_SELECTION, "PullRequestGeneratorFilter"),
    _set("spec.strategy.deletionOrder", "3.2.0", SYNC_POLICY, "ApplicationSetStrategy"),
    _set("**.scmProvider.github.excludeArchivedRepos", "3.5.0", GENERATOR_SELECTION, "SCMProviderGeneratorGithub"),
    _set("**.scmProvider.gitea.excludeArchivedRepos", "3.5.0", GENERATOR_SELECTION, "SCMProviderGeneratorGitea"),
    _set("**.scmProvider.gitlab.includeArchivedRepos", "3.5.0", GENERATOR_SELECTION, "SCMProviderGeneratorGitlab"),
    # AppProject
    _project("spec.clusterResourceWhitelist[].name", "3.3.0", PROJECT_RESTRICTIONS, "ClusterResourceRestrictionItem"),
    _project("spec.clusterResourceBlacklist[].name", "3.3.0", PROJECT_RESTRICTIONS, "ClusterResourceRestrictionItem"),
    _project("spec.sourceIntegrity", "3.5.0", PROJECT_RESTRICTIONS, "AppProjectSpec"),
    _project("spec.destinationServiceAccounts", "2.13.0", PROJECT_RESTRICTIONS, "AppProjectSpec"),
    _project("spec.syncWindows[].andOperator", "3.0.0", PROJECT_RESTRICTIONS, "SyncWindow"),
    _project("spec.syncWindows[].description", "3.1.0", COSMETIC, "SyncWindow"),
    _project("spec.syncWindows[].syncOverrun", "3.5.0", PROJECT_RESTRICTIONS, "SyncWindow"),
    # Repositories and credential templates
    _repo(_REPO_AND_CREDS, "noProxy", "2.13.0", CREDENTIALS),
    _repo(_REPO_AND_CREDS, "bearerToken", "3.0.0", CREDENTIALS),
    _repo(_REPO_AND_CREDS, "useAzureWorkloadIdentity", "3.0.0", CREDENTIALS),
    _repo(_REPO_AND_CREDS, "insecureOCIForceHttp", "3.1.0", CREDENTIALS),
    Fact(_REPO, "type", _v("3.1.0"), RENDERING, "v3.1.0 util/db/repository.go; v3.0.0 reposerver/repository/"
         "repository.go TestRepository has no oci check", value="oci",
         note="not dropped: a global repository's create fails, a project-scoped one is stored unusable"),
    _repo(_REPO, "depth", "3.3.0", COSMETIC),
    *(_repo(_REPO_AND_CREDS, name, "3.5.0", CREDENTIALS)
      for name in ("azureServicePrincipalClientId", "azureServicePrincipalClientSecret",
                   "azureServicePrincipalTenantId", "azureActiveDirectoryEndpoint")),
    _repo(_REPO, "webhookManifestCacheWarmDisabled", "3.5.0", COSMETIC),
    # Clusters
    _cluster("config.proxyUrl", "2.14.0", CREDENTIALS, "ClusterConfig"),
    _cluster("config.disableCompression", "2.14.0", COSMETIC, "ClusterConfig"),
    _cluster("config.awsAuthConfig.profile", "2.11.0", CREDENTIALS, "AWSAuthConfig"),
    _cluster("config.execProviderConfig.provideClusterInfo", "3.5.0", CREDENTIALS, "ExecProviderConfig"),
)  # fmt: skip


def parse_version(text: str) -> Version | None:
    """`v3.0.14+abc1234` (as the version endpoint answers) as (3, 0, 14); None when it names no release."""
    found = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", (text or "").strip())
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


@cache
def facts_for(kind: str) -> tuple[Fact, ...]:
    """The rows of FACTS about one kind."""
    return tuple(f for f in FACTS if kind in f.kinds)


@dataclass(frozen=True)
class Dropped:
    """One field of one object that a target would drop: where it is, and the row that says so."""

    path: str  # concrete, e.g. "spec.sources[1].helm.skipTests"
    fact: Fact

    @property
    def effect(self) -> str:
        return self.fact.effect

    @property
    def policy(self) -> bool:
        """True when losing it changes what syncs, what a project allows, what is generated or rendered."""
        return self.fact.effect in POLICY_EFFECTS


def dropped(kind: str, doc: dict[str, Any], version: Version) -> list[Dropped]:
    """The fields of `doc` a target at `version` does not know, each with its fact; sorted by path.

    One walk of the document: a row anchored at the top (`config.proxyUrl`) is looked up directly; a row that may
    sit at any depth (`**.helm.namespace`) is tried at each map the walk reaches that holds its first name.
    """
    anchored, anywhere = _index(kind, version)
    out = []
    for fact, parts in anchored:
        out += _matches(fact, _find(doc, parts))
    if anywhere:
        for here, node in _maps(doc):
            for name in anywhere.keys() & node.keys():
                for fact, parts in anywhere[name]:
                    out += _matches(fact, _find(node, parts, here))
    return sorted(out, key=lambda d: d.path)


def _matches(fact: Fact, found: Iterator[tuple[str, Any]]) -> list[Dropped]:
    return [Dropped(path, fact) for path, value in found if fact.value is PRESENT or value == fact.value]


Pattern = tuple[Fact, list[str]]


@cache
def _index(kind: str, version: Version) -> tuple[list[Pattern], dict[str, list[Pattern]]]:
    """The kind's rows a target at `version` lacks: those anchored at the top, and the `**` ones by first name."""
    anchored: list[Pattern] = []
    anywhere: dict[str, list[Pattern]] = {}
    for fact in facts_for(kind):
        if version >= fact.since:
            continue
        parts = fact.path.split(".")
        if parts[0] == "**":
            anywhere.setdefault(parts[1].removesuffix("[]"), []).append((fact, parts[1:]))
        else:
            anchored.append((fact, parts))
    return anchored, anywhere


def _find(node: Any, parts: list[str], here: str = "") -> Iterator[tuple[str, Any]]:
    """Every (concrete path, value) in `node` that the dotted pattern `parts` (no `**`) names."""
    if not parts:
        yield here, node
        return
    head, rest = parts[0], parts[1:]
    name, each = (head[:-2], True) if head.endswith("[]") else (head, False)
    if not isinstance(node, dict) or name not in node:
        return
    child, where = node[name], f"{here}.{name}" if here else name
    if not each:
        yield from _find(child, rest, where)
    elif isinstance(child, list):
        for i, item in enumerate(child):
            yield from _find(item, rest, f"{where}[{i}]")


# Maps whose keys are the user's, not Argo CD's fields: `**` does not look inside them (a Helm value named `helm`)
FREE_FORM = frozenset({"valuesObject", "elements", "values", "labels", "annotations", "parameters", "env"})


def _maps(doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every map `**` reaches, with its path: the document and what it holds, but not inside FREE_FORM maps."""
    todo: list[tuple[str, Any]] = [("", doc)]
    while todo:
        here, node = todo.pop()
        if isinstance(node, dict):
            yield here, node
            todo += ((f"{here}.{k}" if here else k, v) for k, v in node.items() if k not in FREE_FORM and _nested(v))
        elif isinstance(node, list):
            todo += ((f"{here}[{i}]", v) for i, v in enumerate(node) if _nested(v))


def _nested(value: Any) -> bool:
    return isinstance(value, (dict, list))

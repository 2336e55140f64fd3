"""Argo CD's behaviour by release, as the simulator models it: data, each row citing the tag and file it was read from.

The simulator is an independent reading of Argo CD's source (the mirror's release tags; 3.6 is master at
37ee0097), not of drkit's own version table. `Release.parse("3.1")` picks the newest patch of a minor.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Newest patch of each minor among the release tags (git tag -l 'v*' in argoproj/argo-cd); 3.6 is master.
NEWEST_PATCH = {
    (2, 10): 20, (2, 11): 14, (2, 12): 13, (2, 13): 9, (2, 14): 21, (3, 0): 23, (3, 1): 16, (3, 2): 12,
    (3, 3): 14, (3, 4): 7, (3, 5): 1, (3, 6): 0,
}  # fmt: skip
MASTER_COMMIT = "37ee0097cf851bc2dd7665fc081bbce61a7e836e"  # the 3.6 development head the swagger.json is from
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[+-].*)?$")


@dataclass(frozen=True, order=True)
class Release:
    """One Argo CD release, e.g. Release(3, 1, 2)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Release:
        """`3.1`, `3.1.2` or `v3.1.2+abc1234`; ValueError for anything the simulator does not model."""
        m = _VERSION.match(text.strip())
        if not m or (int(m.group(1)), int(m.group(2))) not in NEWEST_PATCH:
            known = ", ".join(f"{a}.{b}" for a, b in NEWEST_PATCH)
            raise ValueError(f"Argo CD version {text!r} is not simulated; give one of {known}, with or without a patch")
        minor = (int(m.group(1)), int(m.group(2)))
        return cls(*minor, int(m.group(3)) if m.group(3) is not None else NEWEST_PATCH[minor])

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    def commit(self) -> str:
        """The build's git commit: master's for 3.6, else a stand-in derived from the tag name."""
        if (self.major, self.minor) == (3, 6):
            return MASTER_COMMIT
        return hashlib.sha1(str(self).encode()).hexdigest()

    def build(self) -> str:
        """What `/api/version` says: `vX.Y.Z+<commit>` (`common/version.go` `GetVersion`)."""
        return f"{self}+{self.commit()[:7]}"


@dataclass(frozen=True)
class Field:
    """A request field Argo CD's Go types have only from `since` on; older decoders drop it without an error."""

    type: str  # the swagger definition holding it
    name: str  # its JSON name
    since: Release
    source: str  # tag and file it was read from


def _v(text: str) -> Release:
    return Release.parse(text)


T = "pkg/apis/application/v1alpha1/types.go"
AS = "pkg/apis/application/v1alpha1/applicationset_types.go"
AP = "pkg/apis/application/v1alpha1/app_project_types.go"
RT = "pkg/apis/application/v1alpha1/repository_types.go"

# util/grpc/json.go decodes request bodies with encoding/json and no DisallowUnknownFields (v2.10.0 to master).
FIELDS: tuple[Field, ...] = (
    Field("v1alpha1SyncPolicyAutomated", "enabled", _v("3.1.0"), f"v3.1.0 {T} SyncPolicyAutomated"),
    Field("v1alpha1ApplicationSpec", "sourceHydrator", _v("2.14.0"), f"v2.14.0 {T} ApplicationSpec"),
    Field("v1alpha1DrySource", "helm", _v("3.3.0"), f"v3.3.0 {T} DrySource"),
    Field("v1alpha1DrySource", "kustomize", _v("3.3.0"), f"v3.3.0 {T} DrySource"),
    Field("v1alpha1DrySource", "directory", _v("3.3.0"), f"v3.3.0 {T} DrySource"),
    Field("v1alpha1DrySource", "plugin", _v("3.3.0"), f"v3.3.0 {T} DrySource"),
    Field("v1alpha1ApplicationSource", "name", _v("2.14.0"), f"v2.14.0 {T} ApplicationSource"),
    Field("v1alpha1ApplicationSource", "tagPrefix", _v("3.5.0"), f"v3.5.0 {T} ApplicationSource"),
    Field("v1alpha1ApplicationSourceHelm", "namespace", _v("2.13.0"), f"v2.13.0 {T} ApplicationSourceHelm"),
    Field("v1alpha1ApplicationSourceHelm", "kubeVersion", _v("2.13.0"), f"v2.13.0 {T} ApplicationSourceHelm"),
    Field("v1alpha1ApplicationSourceHelm", "apiVersions", _v("2.13.0"), f"v2.13.0 {T} ApplicationSourceHelm"),
    Field("v1alpha1ApplicationSourceHelm", "skipTests", _v("2.14.0"), f"v2.14.0 {T} ApplicationSourceHelm"),
    Field("v1alpha1ApplicationSourceHelm", "skipSchemaValidation", _v("2.14.0"), f"v2.14.0 {T} ApplicationSourceHelm"),
    Field("v1alpha1ApplicationSourceKustomize", "labelWithoutSelector", _v("2.11.0"), f"v2.11.0 {T}"),
    Field("v1alpha1ApplicationSourceKustomize", "kubeVersion", _v("2.13.0"), f"v2.13.0 {T}"),
    Field("v1alpha1ApplicationSourceKustomize", "apiVersions", _v("2.13.0"), f"v2.13.0 {T}"),
    Field("v1alpha1ApplicationSourceKustomize", "ignoreMissingComponents", _v("3.0.0"), f"v3.0.0 {T}"),
    Field("v1alpha1ApplicationSourceKustomize", "labelIncludeTemplates", _v("3.0.0"), f"v3.0.0 {T}"),
    Field("v1alpha1RetryStrategy", "refresh", _v("3.2.0"), f"v3.2.0 {T} RetryStrategy"),
    Field("v1alpha1GitFileGeneratorItem", "exclude", _v("3.1.0"), f"v3.1.0 {AS} GitFileGeneratorItem"),
    Field("v1alpha1ClusterGenerator", "flatList", _v("2.14.0"), f"v2.14.0 {AS} ClusterGenerator"),
    Field("v1alpha1PullRequestGenerator", "values", _v("3.0.0"), f"v3.0.0 {AS} PullRequestGenerator"),
    Field("v1alpha1PullRequestGenerator", "continueOnRepoNotFoundError", _v("3.2.0"), f"v3.2.0 {AS}"),
    Field("v1alpha1PullRequestGeneratorFilter", "titleMatch", _v("3.2.0"), f"v3.2.0 {AS}"),
    Field("v1alpha1ApplicationSetStrategy", "deletionOrder", _v("3.2.0"), f"v3.2.0 {AS} ApplicationSetStrategy"),
    Field("v1alpha1SCMProviderGeneratorGithub", "excludeArchivedRepos", _v("3.5.0"), f"v3.5.0 {AS}"),
    Field("v1alpha1SCMProviderGeneratorGitea", "excludeArchivedRepos", _v("3.5.0"), f"v3.5.0 {AS}"),
    Field("v1alpha1SCMProviderGeneratorGitlab", "includeArchivedRepos", _v("3.5.0"), f"v3.5.0 {AS}"),
    # before v3.3.0 the whitelist items are metav1.GroupKind, which has no name
    Field("v1alpha1ClusterResourceRestrictionItem", "name", _v("3.3.0"), f"v3.3.0 {AP} ClusterResourceRestriction..."),
    Field("v1alpha1AppProjectSpec", "sourceIntegrity", _v("3.5.0"), f"v3.5.0 {AP} AppProjectSpec"),
    Field("v1alpha1AppProjectSpec", "destinationServiceAccounts", _v("2.13.0"), f"v2.13.0 {AP} AppProjectSpec"),
    Field("v1alpha1SyncWindow", "andOperator", _v("3.0.0"), f"v3.0.0 {AP} SyncWindow"),
    Field("v1alpha1SyncWindow", "description", _v("3.1.0"), f"v3.1.0 {AP} SyncWindow"),
    Field("v1alpha1SyncWindow", "syncOverrun", _v("3.5.0"), f"v3.5.0 {AP} SyncWindow"),
    Field("v1alpha1Repository", "noProxy", _v("2.13.0"), f"v2.13.0 {RT} Repository"),
    Field("v1alpha1Repository", "bearerToken", _v("3.0.0"), f"v3.0.0 {RT} Repository"),
    Field("v1alpha1Repository", "useAzureWorkloadIdentity", _v("3.0.0"), f"v3.0.0 {RT} Repository"),
    Field("v1alpha1Repository", "insecureOCIForceHttp", _v("3.1.0"), f"v3.1.0 {RT} Repository"),
    Field("v1alpha1Repository", "depth", _v("3.3.0"), f"v3.3.0 {RT} Repository"),
    Field("v1alpha1Repository", "azureServicePrincipalClientId", _v("3.5.0"), f"v3.5.0 {RT} Repository"),
    Field("v1alpha1Repository", "azureServicePrincipalClientSecret", _v("3.5.0"), f"v3.5.0 {RT} Repository"),
    Field("v1alpha1Repository", "azureServicePrincipalTenantId", _v("3.5.0"), f"v3.5.0 {RT} Repository"),
    Field("v1alpha1Repository", "azureActiveDirectoryEndpoint", _v("3.5.0"), f"v3.5.0 {RT} Repository"),
    Field("v1alpha1Repository", "webhookManifestCacheWarmDisabled", _v("3.5.0"), f"v3.5.0 {RT} Repository"),
    Field("v1alpha1RepoCreds", "noProxy", _v("2.13.0"), f"v2.13.0 {RT} RepoCreds"),
    Field("v1alpha1RepoCreds", "bearerToken", _v("3.0.0"), f"v3.0.0 {RT} RepoCreds"),
    Field("v1alpha1RepoCreds", "useAzureWorkloadIdentity", _v("3.0.0"), f"v3.0.0 {RT} RepoCreds"),
    Field("v1alpha1RepoCreds", "insecureOCIForceHttp", _v("3.1.0"), f"v3.1.0 {RT} RepoCreds"),
    Field("v1alpha1RepoCreds", "azureServicePrincipalClientId", _v("3.5.0"), f"v3.5.0 {RT} RepoCreds"),
    Field("v1alpha1RepoCreds", "azureServicePrincipalClientSecret", _v("3.5.0"), f"v3.5.0 {RT} RepoCreds"),
    Field("v1alpha1RepoCreds", "azureServicePrincipalTenantId", _v("3.5.0"), f"v3.5.0 {RT} RepoCreds"),
    Field("v1alpha1RepoCreds", "azureActiveDirectoryEndpoint", _v("3.5.0"), f"v3.5.0 {RT} RepoCreds"),
    Field("v1alpha1ClusterConfig", "proxyUrl", _v("2.14.0"), f"v2.14.0 {T} ClusterConfig"),
    Field("v1alpha1ClusterConfig", "disableCompression", _v("2.14.0"), f"v2.14.0 {T} ClusterConfig"),
    Field("v1alpha1AWSAuthConfig", "profile", _v("2.11.0"), f"v2.11.0 {T} AWSAuthConfig"),
    Field("v1alpha1ExecProviderConfig", "provideClusterInfo", _v("3.5.0"), f"v3.5.0 {T} ExecProviderConfig"),
)
# Fields that are Go pointers (an explicit false is kept), with the release they became one.
POINTERS: tuple[Field, ...] = (
    Field("v1alpha1SyncPolicyAutomated", "prune", _v("3.4.0"), f"v3.4.0 {T} SyncPolicyAutomated: Prune *bool"),
    Field("v1alpha1SyncPolicyAutomated", "selfHeal", _v("3.4.0"), f"v3.4.0 {T} SyncPolicyAutomated: SelfHeal *bool"),
    Field(
        "v1alpha1SyncPolicyAutomated", "allowEmpty", _v("3.4.0"), f"v3.4.0 {T} SyncPolicyAutomated: AllowEmpty *bool"
    ),
)

# The 2025 cluster-list fix (`server/cluster/cluster.go` toAPIResponse calls `Cluster.Sanitized()`): the first
# patch of each minor that has it; minors not listed (3.2 and later) have it from .0. Before it, the response
# is the stored cluster minus password, bearerToken and keyData, with execProviderConfig env and args emptied.
CLUSTER_LIST_FIX = {(2, 10): 19, (2, 11): 14, (2, 12): 13, (2, 13): 9, (2, 14): 16, (3, 0): 14, (3, 1): 2}
# `Cluster.Sanitized()` keeps tlsClientConfig.serverName from v3.4.0 (`types.go`); pre-fix responses keep it too.
SANITIZED_SERVER_NAME = _v("3.4.0")
# The repository list carries `username`: built inline with it through v2.13 (`server/repository/repository.go`),
# then `Repository.Sanitized()` (`repository_types.go`) has it until the patch listed here, and again on master.
REPO_USERNAME_DROPPED = {(2, 14): 16, (3, 0): 14, (3, 1): 2, (3, 2): 0, (3, 3): 0, (3, 4): 0, (3, 5): 0}
# `server/repocreds/repocreds.go` ListRepositoryCredentials returns url and username; type and enableOCI on master.
REPOCREDS_TYPED_LIST = _v("3.6.0")
# `controller/appcontroller.go` autoSync honours `automated.enabled` from v3.1.0; before, any `automated` arms it.
AUTOMATED_ENABLED = _v("3.1.0")
# `util/settings/settings.go` GetTrackingMethod answers "annotation" when argocd-cm sets none from v3.0.2 (and
# in every later minor); before, the settings endpoint passes the empty value through and omits trackingMethod.
# The method the controller uses when unset is label before v3.0.0, annotation after
# (`util/argo/resource_tracking.go` GetTrackingMethod).
SETTINGS_DEFAULT_TRACKING = _v("3.0.2")
ANNOTATION_TRACKING = _v("3.0.0")
# Fields of the settings response (`server/settings/settings.proto` Settings) by the release that added them;
# an older server has no such field to send.
SETTINGS_FIELDS = {
    "impersonationEnabled": _v("2.13.0"),
    "installationID": _v("2.13.0"),
    "hydratorEnabled": _v("2.14.0"),
    "syncWithReplaceAllowed": _v("3.3.0"),
    "resourceViewEnabled": _v("3.6.0"),
}
# `/api/v1/write-repositories` and `/api/v1/write-repocreds` exist from v2.14.0 (`assets/swagger.json`).
WRITE_CREDENTIALS = _v("2.14.0")


def patched(release: Release, fixes: dict[tuple[int, int], int]) -> bool:
    """Does this release have a fix whose first patch per minor is in `fixes` (later minors have it from .0)?"""
    minor = (release.major, release.minor)
    if minor in fixes:
        return release.patch >= fixes[minor]
    return minor > max(fixes)


def lacks(release: Release) -> frozenset[tuple[str, str]]:
    """(swagger definition, field) pairs this release's Go types do not have: its decoder drops them."""
    return frozenset((f.type, f.name) for f in FIELDS if release < f.since)


def pointers(release: Release) -> frozenset[tuple[str, str]]:
    """(swagger definition, field) pairs that are Go pointers in this release: an explicit false survives."""
    return frozenset((f.type, f.name) for f in POINTERS if release >= f.since)


def repo_list_username(release: Release) -> bool:
    """Does the repository list (and GET) show `username`?"""
    minor = (release.major, release.minor)
    return minor not in REPO_USERNAME_DROPPED or release.patch < REPO_USERNAME_DROPPED[minor]


def repocreds_listed(release: Release) -> tuple[str, ...]:
    """The fields the repository-credentials list returns of each template."""
    return ("url", "username", "type", "enableOCI") if release >= REPOCREDS_TYPED_LIST else ("url", "username")


def settings_tracking_method(release: Release, configured: str) -> str:
    """What `/api/v1/settings` says as `trackingMethod` for argocd-cm's value ("" when unset)."""
    return configured or ("annotation" if release >= SETTINGS_DEFAULT_TRACKING else "")


def effective_tracking_method(release: Release, configured: str) -> str:
    """The tracking method the controller applies for argocd-cm's value."""
    return configured or ("annotation" if release >= ANNOTATION_TRACKING else "label")

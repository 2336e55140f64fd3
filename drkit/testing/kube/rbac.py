"""Namespaced RBAC Role rules, evaluated for one request as kube-apiserver's RBAC authorizer does.

https://kubernetes.io/docs/reference/access-authn-authz/rbac/ ("Referring to resources"): a rule allows a
request when its `apiGroups` hold "" (the core group) or `*`, its `resources` the resource or `*`, its `verbs`
the verb or `*`, and its `resourceNames` are empty or hold the request's name. "You cannot restrict create or
deletecollection requests by their resource name": such a request carries no name, so a rule with
`resourceNames` never allows it. "If you restrict list or watch by resourceName, clients must include a
metadata.name field selector in their list or watch request that matches the specified resourceName": the
server takes a list's name from a `fieldSelector` of `metadata.name=<name>` (RequestInfoFactory), and nothing
else. Permissions are purely additive; there are no deny rules. Verbs come from the HTTP method
(https://kubernetes.io/docs/reference/access-authn-authz/authorization/#determine-the-request-verb): GET of an
object `get`, of a collection `list`, POST `create`, PUT `update`, PATCH `patch`, DELETE `delete` or
`deletecollection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FULL_ACCESS: tuple[dict[str, Any], ...] = ({"apiGroups": [""], "resources": ["*"], "verbs": ["*"]},)


@dataclass(frozen=True)
class Rule:
    """One PolicyRule of a Role."""

    verbs: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ("",)

    @classmethod
    def parse(cls, rule: Mapping[str, Any] | Rule) -> Rule:
        """A rule from a Role's YAML shape: `{verbs, resources, resourceNames?, apiGroups?}`."""
        if isinstance(rule, Rule):
            return rule
        if not rule.get("verbs"):
            raise ValueError("an RBAC rule needs verbs")
        return cls(
            verbs=tuple(rule["verbs"]),
            resources=tuple(rule.get("resources") or ()),
            resource_names=tuple(rule.get("resourceNames") or ()),
            api_groups=tuple(rule.get("apiGroups", [""])),
        )

    def allows(self, verb: str, resource: str, name: str) -> bool:
        """RuleAllows: group, resource, verb and (when the rule has them) resourceNames all match."""
        return (
            any(g in ("", "*") for g in self.api_groups)
            and any(r in (resource, "*") for r in self.resources)
            and any(v in (verb, "*") for v in self.verbs)
            and (not self.resource_names or name in self.resource_names)
        )


def rules(items: Iterable[Mapping[str, Any] | Rule]) -> list[Rule]:
    return [Rule.parse(item) for item in items]


def allowed(granted: Iterable[Rule], verb: str, resource: str, name: str) -> bool:
    """Does any rule bound in the request's namespace allow it? (`name` is "" for create, deletecollection and
    a list without a metadata.name field selector.)"""
    return any(rule.allows(verb, resource, name) for rule in granted)

"""An ApplicationSet's `spec.templatePatch` made unable to arm auto-sync: the patch of the restore's disarmed set.

Argo CD (v2.10.0+) renders the patch per generated app with the template's engine, reads it as JSON or YAML,
applies it to the app the template made as a strategic merge patch, and decodes the result into an Application
(`applicationset/controllers/template/patch.go` `applyTemplatePatch`; a later release adds an RFC 6902 array
form). So a patch can add `spec.syncPolicy.automated` to apps whose template has none, and the generated apps
auto-sync the moment the set creates them, out of drkit's wave order.

The patch is Go-template text, not data: it cannot be parsed before it is rendered per app, and a Go template
cannot hand its own output to a function (Argo CD's function map is sprig's plus toYaml/fromYaml: no `include`
or `tpl`). The disarmed form therefore renames the key in the text: `automated` written as a mapping key (YAML
or JSON, bare or quoted) and as a JSON-pointer segment becomes `DISARMED`, a field no Argo CD type has. Go
`encoding/json` drops unknown fields when the patched app is decoded (VERSIONS.md), so the rest of the patch
(values files, sources, other sync options) still applies and only `automated` is gone. Re-arm writes the set's
original document back, its own patch included.

A key that only a template value produces (`{{ toYaml .policy }}`, `{{ .snippet | nindent 4 }}`) is not in the
text: `unreadable` says when a patch writes out such values, so the report can say drkit could not disarm it.
"""

from __future__ import annotations

import re
from typing import Any

DISARMED = "drkitDisarmedAutomated"
# `automated` as a mapping key: bare, 'single' or "double" quoted, followed by a colon (YAML block or flow, JSON)
_KEY = re.compile(r"""(?<![\w.$/-])(["']?)automated\1(?=[ \t]*:)""")
# `automated` as a JSON-pointer segment (`"path": "/spec/syncPolicy/automated"`)
_POINTER = re.compile(r"/automated(?=[/\"'\s]|$)")
# template actions whose output can be a structure (a mapping drkit never sees): sprig's and Argo CD's encoders, and
# indentation of a value that may hold YAML text
_STRUCTURED = re.compile(r"\{\{[^}]*\b(?:must)?(?:to(?:Yaml|Json|PrettyJson|RawJson|Toml)|n?indent)\b")


def disarmed(patch: str) -> str:
    """The patch with every `automated` key and pointer segment renamed to a field Argo CD drops."""
    return _POINTER.sub("/" + DISARMED, _KEY.sub(lambda m: f"{m[1]}{DISARMED}{m[1]}", patch))


def unreadable(appset: dict[str, Any]) -> bool:
    """Does the set's templatePatch write out template values that could hold `automated` unseen by `disarmed`?"""
    patch = (appset.get("spec") or {}).get("templatePatch")
    return isinstance(patch, str) and _STRUCTURED.search(patch) is not None

"""Generate drkit/kube/settings_keys.json: which settings keys each Argo CD release reads, per ConfigMap.

Read from Argo CD's git history (a bare mirror), at the .0 release and the newest patch of each minor from v2.10,
and at master when its VERSION names a minor no tag has yet (3.6: master, by commit). At each one:
- argocd-cm: util/settings/*.go (the settings manager). A key is a string constant (or a value of a string map)
  used as an index into the data of argocd-cm (`argoCDCM.Data[k]`, `cm.Data[k]`, `cmData[k]`; a variable key is
  followed to the map it ranges over or to the constants callers pass for it); a prefix is a constant that keys
  of argocd-cm are matched against (`strings.HasPrefix(k, c)`, `strings.CutPrefix(k, c)` over `range ...Data`),
  or that a key is built from (`c + "." + x`, `fmt.Sprintf("%s.%s", c, x)`); the bare `c` is a key too when the
  code trims an optional `.` after it (extension.config). Where the keys under a prefix are dispatched by a
  `switch` whose `default` returns an error (resource.customizations.<type>.<group_kind>), each `case` is its own
  prefix. Plus every `configMapKeyRef` to argocd-cm in manifests/install.yaml. (argocd-cm is read through the
  settings manager alone: `common.ArgoCDConfigMapName` appears nowhere else outside tests and the CLI.)
- argocd-rbac-cm: the constants of util/rbac/rbac.go used as an index into a ConfigMap's data anywhere in the
  tree (`cm.Data[rbac.ConfigMapScopesKey]` is in server/server.go), and the `HasPrefix(key, p) &&
  HasSuffix(key, s)` overlays of rbac.go (`policy.<overlay>.csv`).
- argocd-cmd-params-cm: every `configMapKeyRef` with `name: argocd-cmd-params-cm` in manifests/install.yaml.
A prefix is written with `*` for what follows it (`accounts.*`); ConfigMap keys cannot hold `*`.

`python schemas/settings_keys.py` writes the file; `--check` exits 1 when the committed file differs from what the
mirror gives (2 when there is no mirror). `--mirror PATH` names another bare clone.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

try:  # install.yaml is ~30,000 lines, read at each of ~20 releases
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as Loader  # type: ignore[assignment]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIRROR = PROJECT_ROOT.parent / ".mirror" / "argoproj+argo-cd" / "repo"
OUT = PROJECT_ROOT / "drkit" / "kube" / "settings_keys.json"
FIRST = (2, 10, 0)
SETTINGS_DIR = "util/settings"
RBAC = "util/rbac/rbac.go"
INSTALL = "manifests/install.yaml"
# What each `<receiver>[...]` in util/settings indexes: argocd-cm's data, or something else (argocd-secret, a
# cluster or repository Secret, argocd-ssh-known-hosts-cm). A receiver in neither stops the run: read the code.
CM_RECEIVERS = {"argoCDCM.Data", "cm.Data", "cmData"}
OTHER_RECEIVERS = {"argoCDSecret.Data", "secret.Data", "s.Data", "certCM.Data"}
Tag = tuple[str, str, str]  # (label, version, commit)


class Mirror:
    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True).stdout

    def show(self, commit: str, path: str) -> str:
        return self.git("show", f"{commit}:{path}")

    def files(self, commit: str, folder: str) -> list[str]:
        names = self.git("ls-tree", "--name-only", f"{commit}:{folder}").split()
        return [f"{folder}/{n}" for n in names if n.endswith(".go") and not n.endswith("_test.go")]


def releases(mirror: Mirror) -> list[Tag]:
    """The .0 and the newest patch of each minor from v2.10.0, then master if it is a minor ahead of them."""
    by_minor: dict[tuple[int, int], list[int]] = {}
    for tag in mirror.git("tag", "-l", "v*").split():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", tag)
        if m and tuple(map(int, m.groups())) >= FIRST:
            by_minor.setdefault((int(m[1]), int(m[2])), []).append(int(m[3]))
    tags = []
    for (major, minor), patches in sorted(by_minor.items()):
        for patch in sorted({0, max(patches)} & set(patches)):
            tag = f"v{major}.{minor}.{patch}"
            tags.append((tag, tag[1:], mirror.git("rev-list", "-n1", tag).strip()))
    master = mirror.git("rev-parse", "master").strip()
    version = mirror.show(master, "VERSION").strip()
    if tuple(map(int, version.split(".")[:2])) > max(by_minor):
        tags.append((f"master@{master[:8]}", version, master))
    return tags


def strip_comments(go: str) -> str:
    """Go source without its comments (string and raw string literals kept as they are)."""
    return re.sub(
        r'("(?:\\.|[^"\\\n])*"|`[^`]*`|\'(?:\\.|[^\'\\])+\')|//[^\n]*|/\*.*?\*/',
        lambda m: m.group(1) or "",
        go,
        flags=re.S,
    )


def constants(go: str) -> dict[str, str]:
    """The string constants of a file: `const ( name [Type] = "value" ... )` and `const name = "value"`."""
    found = {}
    for block in re.findall(r"^const \((.*?)^\)", go, flags=re.S | re.M):
        found.update(re.findall(r'^\s*(\w+)(?:\s+\w+)?\s*=\s*"([^"]*)"', block, flags=re.M))
    found.update(re.findall(r'^const (\w+)(?:\s+\w+)?\s*=\s*"([^"]*)"', go, flags=re.M))
    return found


def string_maps(go: str) -> dict[str, list[str]]:
    """`name = map[...]string{...}` literals (a `var` alone or in a block): their values."""
    return {
        name: re.findall(r':\s*"([^"]*)"', body)
        for name, body in re.findall(r"\b(\w+) = map\[[^\]]+\]string\{(.*?)\n\s*\}", go, flags=re.S)
    }


def functions(go: str) -> list[tuple[str, list[str], str]]:
    """Each top-level function: name, parameter names, text."""
    out = []
    for chunk in re.split(r"\n(?=func )", go):
        m = re.match(r"func\s*(?:\([^)]*\)\s*)?(\w+)\(([^)]*)\)", chunk)
        if m:
            params = [p.split()[0] for p in m[2].split(",") if p.strip()]
            out.append((m[1], params, chunk))
    return out


def prefix(value: str) -> str:
    return value.rstrip(".") + ".*"


class ArgocdCm:
    """The argocd-cm keys and prefixes util/settings reads at one commit, each with the file and name it is from."""

    def __init__(self, mirror: Mirror, commit: str) -> None:
        self.mirror, self.commit = mirror, commit
        self.sources = {path: strip_comments(mirror.show(commit, path)) for path in mirror.files(commit, SETTINGS_DIR)}
        self.consts: dict[str, str] = {}
        self.maps: dict[str, list[str]] = {}
        for go in self.sources.values():
            self.consts.update(constants(go))
            self.maps.update(string_maps(go))
        self.found: dict[str, str] = {}

    def add(self, pattern: str, path: str, name: str) -> None:
        self.found.setdefault(pattern, f"{path} {name}")

    def read(self) -> dict[str, str]:
        for path, go in sorted(self.sources.items()):
            for name, params, body in functions(go):
                self.function(path, name, params, body)
        return self.found

    def function(self, path: str, name: str, params: list[str], body: str) -> None:
        for receiver, expr in re.findall(r"\b(\w+\.Data|\w*[dD]ata)\[([^\[\]]+)\]", body):
            if receiver in OTHER_RECEIVERS:
                continue
            if receiver not in CM_RECEIVERS:
                raise SystemExit(f"{self.commit[:8]} {path} {name}: `{receiver}[...]` is unclassified; read the code")
            self.index(path, name, params, body, expr.strip())
        over = "|".join(map(re.escape, CM_RECEIVERS))
        loops = set(re.findall(rf"for (\w+)(?:, \w+)? := range (?:{over})\b", body))
        matched = []
        for var, const in re.findall(
            r'strings\.(?:HasPrefix|CutPrefix)\((\w+),\s*(?:fmt\.Sprintf\("%s\.",\s*)?(\w+)(?:\s*\+\s*"\.")?\)', body
        ):
            if var in loops and const in self.consts:
                matched.append(const)
                if re.search(r'TrimPrefix\([^\n]*"\."\)', body):  # `.` optional: the bare key is one too
                    self.add(self.consts[const], path, const)
        for const in matched:
            cases = self.dispatched(body)
            for case in cases:
                self.add(prefix(f"{self.consts[const]}.{case}"), path, f"{const} case {case!r}")
            if not cases:
                self.add(prefix(self.consts[const]), path, const)

    @staticmethod
    def dispatched(body: str) -> list[str]:
        """The `case "x":` labels of a switch whose `default:` returns an error (other names are refused)."""
        m = re.search(r"switch \w+ \{((?:(?!switch ).)*?)default:\s*return [^\n]*Errorf", body, flags=re.S)
        return re.findall(r'case "([^"]+)":', m[1]) if m else []

    def index(self, path: str, name: str, params: list[str], body: str, expr: str) -> None:
        if m := re.fullmatch(r'"([^"]+)"', expr):
            self.add(m[1], path, f"{name}: literal")
        elif m := re.fullmatch(r'(\w+)\s*\+\s*"\."\s*\+.*|fmt\.Sprintf\("%s\.[^"]*",\s*(\w+),.*\)', expr):
            const = m[1] or m[2]
            if const in self.consts:
                self.add(prefix(self.consts[const]), path, const)
        elif expr in self.consts:
            self.add(self.consts[expr], path, expr)
        elif m := re.search(rf"for \w+, {re.escape(expr)} := range (\w+)", body):
            for value in self.maps.get(m[1], []):
                self.add(value, path, m[1])
        elif (
            expr in params
        ):  # the constants callers anywhere in the tree pass for it (GetDeepLinks(ApplicationDeepLinks))
            for arg in self.call_args(name, params.index(expr)):
                self.add(self.consts[arg], path, arg)

    def call_args(self, function: str, position: int) -> set[str]:
        try:
            hits = self.mirror.git("grep", "-h", "-E", rf"\b{function}\(", self.commit, "--", "*.go", ":!*_test.go")
        except subprocess.CalledProcessError:
            return set()
        args = set()
        for m in re.finditer(rf"\b{function}\(([^()]*)\)", hits):
            parts = [p.strip().split(".")[-1] for p in m[1].split(",")]
            if len(parts) > position and parts[position] in self.consts:
                args.add(parts[position])
        return args


def rbac_cm(mirror: Mirror, commit: str) -> dict[str, str]:
    """argocd-rbac-cm: rbac.go's constants used as a ConfigMap data index anywhere, and its overlay patterns."""
    go = strip_comments(mirror.show(commit, RBAC))
    consts = constants(go)
    used = set(re.findall(r"\b\w*[dD]ata\[(\w+)\]", go))
    hits = mirror.git("grep", "-h", "-E", r"[dD]ata\[rbac\.\w+\]", commit, "--", "*.go", ":!*_test.go")
    used |= set(re.findall(r"[dD]ata\[rbac\.(\w+)\]", hits))
    found = {consts[name]: f"{RBAC} {name}" for name in sorted(used & consts.keys())}
    for head, tail in re.findall(
        r'strings\.HasPrefix\(\w+, "([^"]+)"\)\s*&&\s*strings\.HasSuffix\(\w+, "([^"]+)"\)', go
    ):
        found.setdefault(f"{head}*{tail}", f"{RBAC} PolicyCSV: HasPrefix {head!r} and HasSuffix {tail!r}")
    return found


def configmap_refs(mirror: Mirror, commit: str) -> dict[str, dict[str, str]]:
    """Every `valueFrom.configMapKeyRef` of install.yaml: ConfigMap name -> key -> the env vars that read it."""
    refs: dict[str, dict[str, set[str]]] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = (node.get("valueFrom") or {}).get("configMapKeyRef") if "name" in node else None
            if isinstance(ref, dict) and ref.get("name") and ref.get("key"):
                refs.setdefault(ref["name"], {}).setdefault(ref["key"], set()).add(str(node["name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for doc in yaml.load_all(mirror.show(commit, INSTALL), Loader=Loader):
        walk(doc)
    return {
        cm: {k: f"{INSTALL} env {', '.join(sorted(envs))}" for k, envs in keys.items()} for cm, keys in refs.items()
    }


def read_release(mirror: Mirror, commit: str) -> dict[str, dict[str, str]]:
    refs = configmap_refs(mirror, commit)
    cm = ArgocdCm(mirror, commit).read()
    for key, source in refs.get("argocd-cm", {}).items():
        cm.setdefault(key, source)
    return {"argocd-cm": cm, "argocd-rbac-cm": rbac_cm(mirror, commit), "argocd-cmd-params-cm": refs.get(
        "argocd-cmd-params-cm", {})}  # fmt: skip


def build(mirror: Mirror) -> dict:
    tags = releases(mirror)
    seen: dict[str, dict[str, dict]] = {}
    for label, _version, commit in tags:
        for cm, keys in read_release(mirror, commit).items():
            for key, source in keys.items():
                row = seen.setdefault(cm, {}).setdefault(key, {"read_at": []})
                row["read_at"].append(label)
                row["source"] = f"{label} {source}"  # the newest release that reads it
    version_of = {label: version for label, version, _ in tags}
    configmaps: dict[str, dict] = {}
    for cm, keys in sorted(seen.items()):
        configmaps[cm] = {}
        for key, row in sorted(keys.items()):
            last = row["read_at"][-1]
            configmaps[cm][key] = {
                "since": version_of[row["read_at"][0]],
                "until": None if last == tags[-1][0] else version_of[last],
                "read_at": row["read_at"],
                "source": row["source"],
            }
    return {
        "about": "Which settings keys each Argo CD release reads, per ConfigMap; `*` stands for the rest of a key. "
        "Generated by schemas/settings_keys.py from Argo CD's git history: do not edit. `since` is the first "
        "release read that reads the key, `until` the last one when a later release no longer does; between "
        "two releases read (patches of a minor), which of them a key came or went in is not known.",
        "tags": [{"tag": label, "version": version, "commit": commit} for label, version, commit in tags],
        "configmaps": configmaps,
    }


def render(doc: dict) -> str:
    """The JSON with one line per key: reviewable as a table in a diff."""
    lines = ["{", f'  "about": {json.dumps(doc["about"])},', '  "tags": [']
    lines += [f"    {json.dumps(t)}," for t in doc["tags"]]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  ],", '  "configmaps": {']
    for i, (cm, keys) in enumerate(doc["configmaps"].items()):
        lines.append(f"    {json.dumps(cm)}: {{")
        lines += [f"      {json.dumps(k)}: {json.dumps(v)}," for k, v in keys.items()]
        lines[-1] = lines[-1].rstrip(",")
        lines.append("    }," if i < len(doc["configmaps"]) - 1 else "    }")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs")
    parser.add_argument("--mirror", type=Path, default=MIRROR, help="a bare clone of argoproj/argo-cd")
    args = parser.parse_args(argv)
    if not (args.mirror / "HEAD").exists():
        print(f"no Argo CD mirror at {args.mirror}", file=sys.stderr)
        return 2
    text = render(build(Mirror(args.mirror)))
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(
                f"{OUT.relative_to(PROJECT_ROOT)} is out of date: run python schemas/settings_keys.py", file=sys.stderr
            )
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hostile input (issue 11): property-based tests over everything drkit parses from outside.

The backup YAML loader, the credentials file, remap rules, backup ids and object names get generated input
(`..`, `/`, NUL, very long names, unicode, broken YAML): drkit answers with its own error (a DrkitError, which
the CLI turns into a message and an exit code) or a result, never a traceback, and never writes outside the
store's prefix. YAML alias bombs and oversized documents are refused with a clear error.
"""

from __future__ import annotations

import hashlib
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drkit.argocd.kinds import KINDS
from drkit.backup import documents
from drkit.backup import format as backup
from drkit.backup.store import open_store
from drkit.backup.verify import verify
from drkit.errors import CredentialError, DrkitError, IntegrityError
from drkit.export.snapshot import Writer
from drkit.restore import credentials as creds
from drkit.restore import remap
from tests.figures import record

EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NASTY = ["..", ".", "/", "../..", "a/../../b", "\x00", "\n", "\\", "~", "%2e%2e", "é", "日本", "\u202e", "-" * 300]
hostile_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=8), min_size=1, max_size=6).map("".join),
    st.text(min_size=200, max_size=2000, alphabet=st.characters(codec="utf-8")),
)
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)


def tried(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Call drkit; a DrkitError is an answer, any other exception is a traceback (counted, then re-raised)."""
    try:
        result = call(*args, **kwargs)
    except DrkitError as err:
        record("hostile input", inputs=1)
        return err
    except Exception:
        record("hostile input", inputs=1, tracebacks=1)
        raise
    record("hostile input", inputs=1)
    return result


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# the backup YAML loader ------------------------------------------------------------------------------------------


@EXAMPLES
@given(data=st.binary(max_size=600) | yaml_values.map(lambda v: yaml.safe_dump(v).encode()))
def test_a_stored_object_of_any_bytes_is_a_problem_or_a_document(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = open_store(root)
        store.put("prod/b/applications/argocd/x.yaml", data)
        entry = {"key": "applications/argocd/x.yaml", "kind": "applications", "name": "argocd/x", "size": len(data)}
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        result = tried(backup.read_object, store, "prod/b", entry, 1)
        assert not isinstance(result, DrkitError), result  # read_object reports problems, it does not raise


@EXAMPLES
@given(data=st.binary(max_size=400) | yaml_values.map(lambda v: yaml.safe_dump(v).encode()))
def test_a_manifest_of_any_bytes_never_breaks_list_or_verify(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = open_store(root)
        store.put("prod/20260101T000000Z-000-abcd/manifest.yaml", data)
        listed = tried(backup.list_backups, store, "prod")
        assert not isinstance(listed, DrkitError) and not any(b.complete for b in listed)
        assert isinstance(tried(verify, store, "prod", "20260101T000000Z-000-abcd"), IntegrityError)


def test_a_yaml_alias_bomb_is_refused_before_it_expands() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    with pytest.raises(documents.HostileDocument, match="alias at line 2"):
        backup.load_yaml(bomb.encode())
    record("hostile input", inputs=1)


def test_drkit_never_writes_an_alias_so_refusing_them_costs_nothing() -> None:
    shared = {"server": "*", "namespace": "*"}
    data = backup.dump({"spec": {"destinations": [shared, shared], "sourceRepos": ["*"]}})
    assert b"&" not in data and backup.load_yaml(data)["spec"]["destinations"] == [shared, shared]


TRICKY_YAML = [
    "", "a: 1\nb: [1, 2.5, true, null, ~, '3', \"x\", 0o17, 0x1f, yes, .inf, 2020-01-01]\n", "- &a x\n- y\n",
    "a: !!str 1\n", "<<: {a: 1}\nb: 2\n", "a: |\n  multi\n  line\n", "? [1]\n: x\n", "a: 1\n---\nb: 2\n",
    "'': ''\na:\n", "- - 1\n  - 2\n- {}\n- []\n", "!!map {a: 1}\n", "a: !custom x\n", "a: b: c\n", "{a: [b, {c: d}]}",
]  # fmt: skip


@EXAMPLES
@given(st.one_of(yaml_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)), st.sampled_from(TRICKY_YAML),
                 hostile_text))  # fmt: skip
def test_drkits_yaml_loader_reads_any_document_as_pyyamls_safe_loader_does(text: str) -> None:
    """documents.load builds objects from libyaml's events (a restore's main CPU cost), leaving anything beyond
    plain maps, lists and scalars to SafeLoader: same values, same kind of error."""

    def read(load: Any) -> Any:
        try:
            return repr(load(text.encode()))
        except yaml.YAMLError as err:
            return type(err).__name__ if not isinstance(err, documents.HostileDocument) else "refused"

    theirs = read(lambda data: yaml.load(data, Loader=yaml.CSafeLoader))
    assert read(documents.load) in (theirs, "refused")


def test_a_document_over_the_size_bound_is_refused_with_the_bound_named() -> None:
    with pytest.raises(documents.HostileDocument, match=f"more than the {64 * 1024 * 1024}-byte bound"):
        backup.load_yaml(b"a: " + b"x" * documents.MAX_BYTES)
    record("hostile input", inputs=1)


# the credentials file --------------------------------------------------------------------------------------------

credentials_docs = st.dictionaries(
    st.sampled_from(["repositories", "repocreds", "clusters", "certificates"]) | hostile_text,
    yaml_values | st.dictionaries(hostile_text, st.dictionaries(hostile_text, yaml_values, max_size=3), max_size=3),
    max_size=4,
)


@EXAMPLES
@given(text=credentials_docs.map(lambda d: yaml.safe_dump(d, allow_unicode=True)) | st.text(max_size=300))
def test_a_credentials_file_of_any_content_is_a_credential_error_or_credentials(text: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "credentials.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = tried(creds.load, path, env={}, fetch_secret=None)
        assert isinstance(result, (creds.Credentials, CredentialError)), result


def test_an_alias_or_an_oversized_credentials_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text("x: &pw hunter2\nrepositories:\n  https://git.example.com/a.git: {password: *pw}\n")
    with pytest.raises(CredentialError, match="alias at line 3"):
        creds.load(path, env={}, fetch_secret=None)
    monkeypatch.setattr(documents, "MAX_BYTES", 1024)
    path.write_text("repositories: {}\n" + "#" * 2048)
    with pytest.raises(CredentialError, match="more than the 1024-byte bound"):
        creds.load(path, env={}, fetch_secret=None)
    record("hostile input", inputs=2)


# remap rules, backup ids, object names ---------------------------------------------------------------------------


@EXAMPLES
@given(pairs=st.lists(hostile_text | st.tuples(hostile_text, hostile_text).map("=".join), max_size=4))
def test_remap_rules_of_any_text_are_a_config_error_or_applied(pairs: list[str]) -> None:
    rules = tried(remap.parse_rules, pairs, "--remap-repo")
    if isinstance(rules, DrkitError):
        return
    app = {"metadata": {"name": "a", "namespace": "argocd"}, "spec": {"source": {"repoURL": "https://g/x.git"}}}
    tried(remap.remap, {"applications": [app], "repositories": [{"repo": "https://g/x.git"}]}, rules, rules)


@EXAMPLES
@given(backup_id=hostile_text, instance=hostile_text)
def test_any_backup_id_or_instance_is_refused_or_read_inside_the_store(backup_id: str, instance: str) -> None:
    with tempfile.TemporaryDirectory() as outer:
        root = Path(outer) / "store"
        store = open_store(str(root))
        store.put("prod/20260101T000000Z-000-abcd/manifest.yaml", b"{}")
        before = files_under(Path(outer))
        for call in (backup.resolve, backup.read_manifest, verify, backup.load):
            assert isinstance(tried(call, store, instance, backup_id), (DrkitError, str))
        outside = len(files_under(Path(outer)) - before)
        record("hostile input", outside=outside)
        assert outside == 0


@EXAMPLES
@given(kind=st.sampled_from(sorted(KINDS)), name=hostile_text, namespace=hostile_text)
def test_objects_with_any_name_are_written_inside_their_backup_or_refused(kind: str, name: str, namespace: str) -> None:
    doc = {
        "metadata": {"name": name, "namespace": namespace},
        "name": name,
        "repo": name,
        "url": name,
        "server": name,
        "keyID": name,
        "serverName": name,
        "certType": namespace,
    }
    with tempfile.TemporaryDirectory() as outer, ThreadPoolExecutor(2) as pool:
        root = Path(outer) / "store"
        prefix = "prod/20260101T000000Z-000-abcd"
        key = KINDS[kind].key(doc)
        writer = Writer(open_store(str(root)), prefix, pool, 2, None)
        tried(lambda: (writer.put(kind, key, b"x: 1\n"), writer.finish()))
        written = files_under(Path(outer))
        outside = sum(1 for p in written if not p.is_relative_to(root / prefix))
        record("hostile input", outside=outside)
        assert outside == 0, written

"""The store contract, run against both backends, plus what only S3 or only a local directory promises."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from drkit.backup import store as store_module
from drkit.backup.store import LocalStore, S3Store, Store, open_store, validate_key
from drkit.errors import ConfigError, ObjectNotFound, StoreError

pytest_plugins = ["tests.s3fixtures"]  # the S3 fixtures, also made global by conftest.py

BAD_KEYS = ["../x", "/abs", "a//b", "a/./b", "", "a\\b", "a/", "a/..", ".", "a\x00b", "x" * 1025]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Each contract test runs once per backend (borgstore's `tested_backends`)."""
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket}/drkit")


# --- the contract: both backends -------------------------------------------------------------------------


def test_put_then_get_returns_the_same_bytes(store: Store) -> None:
    store.put("prod/2024/manifest.yaml", b"kind: Manifest\n")
    assert store.get("prod/2024/manifest.yaml") == b"kind: Manifest\n"


def test_put_overwrites(store: Store) -> None:
    store.put("a.yaml", b"first")
    store.put("a.yaml", b"second")
    assert store.get("a.yaml") == b"second"


def test_binary_and_empty_data_round_trip(store: Store) -> None:
    data = bytes(range(256)) * 64
    store.put("bin/all-bytes", data)
    store.put("bin/empty", b"")
    assert store.get("bin/all-bytes") == data
    assert store.get("bin/empty") == b""


def test_get_missing_raises_object_not_found_naming_key_and_store(store: Store) -> None:
    with pytest.raises(ObjectNotFound) as info:
        store.get("prod/missing.yaml")
    assert "prod/missing.yaml" in str(info.value)
    assert store.url in str(info.value)


def test_get_of_a_folder_is_not_found(store: Store) -> None:
    store.put("folder/child", b"x")
    with pytest.raises(ObjectNotFound):
        store.get("folder")


def test_list_shows_immediate_children_sorted_with_folders_marked(store: Store) -> None:
    for key in ("b/z.yaml", "b/a.yaml", "b/sub/deep/x", "b/sub2/y", "b/0", "c/other"):
        store.put(key, b"x")
    assert store.list("b/") == ["0", "a.yaml", "sub/", "sub2/", "z.yaml"]
    assert store.list("b/sub/") == ["deep/"]
    assert store.list("") == ["b/", "c/"]


def test_list_of_a_missing_folder_is_empty(store: Store) -> None:
    assert store.list("") == []
    assert store.list("nothing/here/") == []
    store.put("ab/x", b"x")
    assert store.list("a/") == []


def test_list_rejects_a_prefix_that_is_not_a_folder(store: Store) -> None:
    for prefix in ("b", "../", "/b/", "a//"):
        with pytest.raises(StoreError):
            store.list(prefix)


def test_delete_removes_and_is_idempotent(store: Store) -> None:
    store.put("d/one", b"1")
    store.put("d/two", b"2")
    store.delete("d/one")
    store.delete("d/one")
    store.delete("never/existed")
    with pytest.raises(ObjectNotFound):
        store.get("d/one")
    assert store.list("d/") == ["two"]


def test_deleting_the_last_object_removes_the_folder_from_listings(store: Store) -> None:
    store.put("keep", b"k")
    store.put("gone/deep/x", b"x")
    store.delete("gone/deep/x")
    assert store.list("") == ["keep"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected_by_every_verb(store: Store, key: str) -> None:
    for verb in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.delete(key)):
        with pytest.raises(StoreError, match="invalid store key"):
            verb()
    assert store.list("") == []


def test_many_parallel_puts_from_threads(store: Store) -> None:
    keys = [f"par/{i % 7}/obj-{i:03d}" for i in range(120)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: store.put(key, key.encode()), keys))
    with ThreadPoolExecutor(max_workers=16) as pool:
        bodies = list(pool.map(store.get, keys))
    assert bodies == [key.encode() for key in keys]
    assert store.list("par/") == [f"{n}/" for n in range(7)]
    assert len(store.list("par/3/")) == len([k for k in keys if k.startswith("par/3/")])


def test_parallel_puts_and_deletes_in_one_folder_do_not_fail(store: Store) -> None:
    def churn(i: int) -> None:
        store.put(f"churn/{i}", b"x")
        store.delete(f"churn/{i}")
        store.put(f"churn/{i}", b"y")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(churn, range(60)))
    assert len(store.list("churn/")) == 60


def test_readers_never_see_a_partial_object(store: Store) -> None:
    versions = [bytes([n]) * (1 << 20) for n in (1, 2)]
    store.put("big", versions[0])

    def write() -> None:
        for i in range(12):
            store.put("big", versions[i % 2])

    def read() -> set[bytes]:
        return {store.get("big")[:: 1 << 16] for _ in range(12)}

    with ThreadPoolExecutor(max_workers=3) as pool:
        writer, readers = pool.submit(write), [pool.submit(read) for _ in range(2)]
        writer.result()
        seen = set().union(*(reader.result() for reader in readers))
    assert seen <= {version[:: 1 << 16] for version in versions}


def test_repr_and_url_name_the_store(store: Store) -> None:
    assert store.url in repr(store)


# --- validate_key and open_store -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "a/b.yaml", "prod/applications/guestbook.yaml", ".hidden", "a..b", "x" * 1024])
def test_validate_key_accepts_relative_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_validate_key_rejects_unsafe_keys(key: str) -> None:
    with pytest.raises(StoreError, match="invalid store key"):
        validate_key(key)


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "gs://x", "", "  ", "s3://Bad_Bucket!", "file://host/x"])
def test_open_store_rejects_bad_urls_saying_which_forms_work(url: str) -> None:
    with pytest.raises(ConfigError, match="s3://BUCKET"):
        open_store(url)


def test_open_store_never_echoes_credentials_in_a_url() -> None:
    with pytest.raises(ConfigError) as info:
        open_store("s3://AKIAEXAMPLE:hunter2secret@bucket/prefix")
    assert "hunter2secret" not in str(info.value)


@pytest.mark.parametrize(
    "options",
    [{"sse": "aes"}, {"sse": "AES256", "kms_key_id": "k"}, {"object_lock_days": 0}, {"object_lock_days": "7"}],
)
def test_open_store_rejects_bad_s3_options(options: dict) -> None:
    with pytest.raises(ConfigError):
        open_store("s3://bucket", **options)


def test_object_lock_on_a_local_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="object lock"):
        open_store(str(tmp_path), object_lock_days=7)


def test_open_store_picks_the_backend_from_the_url(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store(tmp_path.as_uri()), LocalStore)
    s3 = open_store("s3://my-bucket/team/prod/")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.url) == ("my-bucket", "team/prod", "s3://my-bucket/team/prod")
    assert repr(open_store("s3://my-bucket")) == "S3Store('s3://my-bucket')"


# --- S3 only ---------------------------------------------------------------------------------------------


def test_s3_puts_carry_aes256_by_default(s3_client, s3_bucket: str) -> None:
    open_store(f"s3://{s3_bucket}").put("k", b"x")
    assert s3_client.head_object(Bucket=s3_bucket, Key="k").get("ServerSideEncryption") == "AES256"


def test_s3_sse_none_sends_no_encryption_header(s3_client, s3_bucket: str) -> None:
    open_store(f"s3://{s3_bucket}", sse=None).put("k", b"x")
    assert "ServerSideEncryption" not in s3_client.head_object(Bucket=s3_bucket, Key="k")


def test_s3_kms_encryption_with_a_key_id(s3_client, s3_bucket: str) -> None:
    key_id = boto3.session.Session().client("kms").create_key()["KeyMetadata"]["KeyId"]
    open_store(f"s3://{s3_bucket}", sse="aws:kms", kms_key_id=key_id).put("k", b"x")
    head = s3_client.head_object(Bucket=s3_bucket, Key="k")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


def test_s3_object_lock_sets_compliance_retention(s3_client) -> None:
    bucket = "drkit-locked-" + os.urandom(6).hex()
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    before = dt.datetime.now(dt.timezone.utc)
    store = open_store(f"s3://{bucket}/backups", object_lock_days=30)
    store.put("prod/manifest.yaml", b"m")
    head = s3_client.head_object(Bucket=bucket, Key="backups/prod/manifest.yaml")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    retain = head["ObjectLockRetainUntilDate"] - before
    assert dt.timedelta(days=29) < retain < dt.timedelta(days=31)


def test_s3_object_lock_on_an_unlocked_bucket_says_what_to_do(s3_bucket: str) -> None:
    with pytest.raises(StoreError, match="object lock enabled") as info:
        open_store(f"s3://{s3_bucket}", object_lock_days=1).put("k", b"x")
    assert s3_bucket in str(info.value)


def test_s3_missing_bucket_is_a_store_error_naming_it(s3_server: str) -> None:
    store = open_store("s3://drkit-no-such-bucket/p")
    for verb in (
        lambda: store.put("k", b"x"),
        lambda: store.get("k"),
        lambda: store.list(""),
        lambda: store.delete("k"),
    ):
        with pytest.raises(StoreError) as info:
            verb()
        assert not isinstance(info.value, ObjectNotFound)
        assert "bucket drkit-no-such-bucket does not exist" in str(info.value)
        assert "create the bucket" in str(info.value)


def test_s3_prefix_in_the_url_scopes_every_verb(s3_client, s3_bucket: str) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="outside", Body=b"o")
    s3_client.put_object(Bucket=s3_bucket, Key="team/prodx/near-miss", Body=b"o")
    s3_client.put_object(Bucket=s3_bucket, Key="team/prod/apps/", Body=b"")  # a console-made folder marker
    store = open_store(f"s3://{s3_bucket}/team/prod")
    store.put("apps/a.yaml", b"a")
    assert s3_client.get_object(Bucket=s3_bucket, Key="team/prod/apps/a.yaml")["Body"].read() == b"a"
    assert store.list("") == ["apps/"]
    assert store.list("apps/") == ["a.yaml"]
    with pytest.raises(ObjectNotFound):
        store.get("outside")
    store.delete("apps/a.yaml")
    s3_client.delete_object(Bucket=s3_bucket, Key="team/prod/apps/")
    assert store.list("") == []


def test_s3_list_follows_pagination(s3_client, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S3Store, "page_size", 3)
    store = open_store(f"s3://{s3_bucket}")
    names = [f"{i:02d}" for i in range(10)] + [f"sub{i}/" for i in range(4)]
    for name in names:
        store.put(f"many/{name}x" if name.endswith("/") else f"many/{name}", b"")
    requests: list[int] = []
    store._client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: requests.append(1))
    assert store.list("many/") == sorted(names)
    assert len(requests) >= 5


def test_s3_missing_credentials_say_where_to_look(s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match="AWS_PROFILE") as info:
        open_store(f"s3://{s3_bucket}").get("k")
    assert "no AWS credentials" in str(info.value)


def test_s3_unreachable_endpoint_is_a_store_error_without_secrets(
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-never-printed")
    store = open_store(f"s3://{s3_bucket}")
    with pytest.raises(StoreError, match="cannot reach") as info:
        store.put("k", b"x")
    assert closed in str(info.value)
    assert "s3cr3t-value-never-printed" not in str(info.value) + repr(store)


def test_s3_server_also_serves_secrets_manager(s3_server: str) -> None:
    client = boto3.session.Session().client("secretsmanager")
    name = f"drkit-test/{uuid.uuid4().hex}"
    client.create_secret(Name=name, SecretString='{"token": "t"}')
    assert client.get_secret_value(SecretId=name)["SecretString"] == '{"token": "t"}'
    assert client.meta.endpoint_url == s3_server


# --- local directory only --------------------------------------------------------------------------------


def _all_files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_local_crash_during_write_leaves_no_partial_or_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(str(tmp_path))
    store.put("a/old", b"old contents")

    def crash(fd: int) -> None:
        raise OSError(5, "simulated crash")

    monkeypatch.setattr(store_module.os, "fsync", crash)
    with pytest.raises(StoreError, match="cannot write a/new"):
        store.put("a/new", b"new contents")
    with pytest.raises(StoreError, match="cannot write a/old"):
        store.put("a/old", b"replacement")
    monkeypatch.undo()
    assert _all_files(tmp_path) == ["a/old"]
    assert store.get("a/old") == b"old contents"


def test_local_temp_files_left_by_a_killed_writer_are_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(str(tmp_path))
    monkeypatch.setattr(store_module.os, "replace", lambda src, dst: (_ for _ in ()).throw(KeyboardInterrupt))
    monkeypatch.setattr(store_module.os, "unlink", lambda path: None)  # the process died before cleaning up
    with pytest.raises(KeyboardInterrupt):
        store.put("dir/obj", b"data")
    monkeypatch.undo()
    assert len(list((tmp_path / "dir").iterdir())) == 1
    assert store.list("dir/") == []
    with pytest.raises(ObjectNotFound):
        store.get("dir/obj")


def test_local_store_creates_its_root_on_first_put(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    store = open_store(str(root))
    assert not root.exists()
    assert store.list("") == []
    store.put("k", b"v")
    assert (root / "k").read_bytes() == b"v"


def test_local_file_url_round_trips_through_the_store_url(tmp_path: Path) -> None:
    root = tmp_path / "with space"
    store = open_store(root.as_uri())
    store.put("x/y", b"z")
    assert store.root == root
    assert open_store(store.url).get("x/y") == b"z"
    assert open_store(f"file://localhost{root}").get("x/y") == b"z"


def test_local_relative_path_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("backups/here")
    monkeypatch.chdir("/")
    store.put("k", b"v")
    assert (tmp_path / "backups" / "here" / "k").read_bytes() == b"v"
    assert store.url == (tmp_path / "backups" / "here").as_uri()


def test_local_object_where_a_folder_exists_is_a_store_error(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    store.put("a/b", b"x")
    with pytest.raises(StoreError, match="cannot write a"):
        store.put("a", b"y")

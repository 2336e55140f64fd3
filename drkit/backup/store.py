"""The backup store: four verbs (put, get, list, delete) over S3 or a local directory; the only boto3 user."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from drkit.errors import ConfigError, ObjectNotFound, StoreError

MAX_KEY_BYTES = 1024
SSE_MODES = ("AES256", "aws:kms")
URL_FORMS = "s3://BUCKET[/PREFIX], file:///ABSOLUTE/PATH, or a directory path"
CREDENTIALS_HINT = "check AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, IRSA) and that the bucket exists"
# botocore's "standard" mode retries 500 InternalError, 503 SlowDown, throttling and dropped connections with
# capped exponential backoff and jitter. Not "adaptive": its client-side rate limiter is experimental and slows
# every thread of the client after a few SlowDowns, while a backup's few hundred PUTs are far below S3's
# per-prefix rate. 8 attempts (not the default 3) ride out a burst of faults: at a 20% fault rate a request
# fails for good about once in 400,000, and the worst case waits about a minute, well inside a nightly job.
RETRIES: dict[str, object] = {"mode": "standard", "total_max_attempts": 8}
_TEMP_NAME = re.compile(r"^\..*\.[0-9a-f]{32}\.tmp$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]$")


class Store(Protocol):
    """What every backend offers; `url` names it in messages and never carries credentials."""

    url: str

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative `/`-separated object key, else raise StoreError.

    Argo CD object names become path segments, so a key must never climb out of the store or alias another.
    """
    problem = _key_problem(key)
    if problem:
        raise StoreError(f"invalid store key {key!r}: {problem}", hint="keys are relative paths like 'a/b.yaml'")
    return key


def _key_problem(key: object) -> str | None:
    if not isinstance(key, str):
        return "not a string"
    if not key:
        return "empty"
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    if key.startswith("/"):
        return "absolute (leading '/')"
    if "\\" in key:
        return "contains a backslash"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        return "contains a NUL or control character"
    for segment in key.split("/"):
        if segment == "":
            return "empty path segment"
        if segment in (".", ".."):
            return f"'{segment}' path segment"
    return None


def _validate_prefix(prefix: str) -> str:
    """A folder prefix is `""` or a valid key followed by `/`."""
    if prefix == "":
        return prefix
    if not isinstance(prefix, str) or not prefix.endswith("/"):
        raise StoreError(f"invalid store prefix {prefix!r}: a folder prefix is '' or ends with '/'")
    validate_key(prefix[:-1])
    return prefix


def open_store(
    url: str,
    *,
    sse: str | None = "AES256",
    kms_key_id: str | None = None,
    object_lock_days: int | None = None,
) -> Store:
    """Open the store `url` names: `s3://bucket[/prefix]`, `file:///abs/path`, or a directory path.

    `sse`, `kms_key_id` and `object_lock_days` apply to S3; object lock on a local directory is refused
    rather than silently not kept.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("store URL is empty", hint=f"use {URL_FORMS}")
    if url.startswith("s3://"):
        bucket, prefix = _parse_s3(url)
        return S3Store(bucket, prefix, sse=sse, kms_key_id=kms_key_id, object_lock_days=object_lock_days)
    if object_lock_days is not None:
        raise ConfigError("object lock needs an s3:// store", hint="drop the object lock setting or use S3")
    if url.startswith("file:"):
        return LocalStore(_parse_file(url))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", url):
        raise ConfigError(f"unsupported store URL scheme in {_redact(url)!r}", hint=f"use {URL_FORMS}")
    return LocalStore(Path(url))


def _redact(url: str) -> str:
    """The URL without any `user:password@` part, fit for a message."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@", r"\1", url)


def _parse_s3(url: str) -> tuple[str, str]:
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket or "?" in url or "#" in url:
        raise ConfigError(
            f"store URL {_redact(url)!r} must not carry credentials, a query or a fragment",
            hint="credentials come from the AWS chain (AWS_PROFILE, IRSA)",
        )
    if not _BUCKET_NAME.match(bucket):
        raise ConfigError(f"store URL {url!r} has no valid bucket name", hint=f"use {URL_FORMS}")
    prefix = prefix.strip("/")
    if prefix and _key_problem(prefix):
        raise ConfigError(f"store URL {url!r} has an invalid prefix: {_key_problem(prefix)}")
    return bucket, prefix


def _parse_file(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.query or parts.fragment:
        raise ConfigError(f"store URL {_redact(url)!r} is not a file:///absolute/path", hint=f"use {URL_FORMS}")
    return Path(unquote(parts.path))


class LocalStore:
    """A directory on disk; puts are atomic (temp file, fsync, rename) and safe from many threads."""

    remote = False  # reads come from the page cache: a thread pool would only add its own overhead (checking.read_all)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalStore({self.url!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        """Write `data` at `key` atomically: a reader sees the old object or the new one, never a part."""
        path = self._path(key)
        try:
            for attempt in range(5):  # a concurrent delete may prune the parent between mkdir and open
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._write_replace(path, bytes(data))
                    return
                except FileNotFoundError:
                    if attempt == 4:
                        raise
        except OSError as exc:
            raise StoreError(f"cannot write {key} to {self.url}: {exc.strerror or exc}") from exc

    @staticmethod
    def _write_replace(path: Path, data: bytes) -> None:
        temp = path.with_name(f".{path.name[:120]}.{uuid.uuid4().hex}.tmp")  # stays under NAME_MAX
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _fsync_dir(path.parent)

    def get(self, key: str) -> bytes:
        """Return the object at `key`, or raise ObjectNotFound."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"{key} not found in {self.url}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {key} from {self.url}: {exc.strerror or exc}") from exc

    def list(self, prefix: str) -> list[str]:
        """Sorted immediate children of folder `prefix`; sub-folders end with `/`; a missing folder is empty."""
        folder = self.root.joinpath(*_validate_prefix(prefix).split("/")[:-1]) if prefix else self.root
        names = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if _TEMP_NAME.match(entry.name):
                        continue
                    names.append(entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {prefix or '/'} in {self.url}: {exc.strerror or exc}") from exc
        return sorted(names)

    def delete(self, key: str) -> None:
        """Remove the object at `key` if present, and prune the folders it leaves empty."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except IsADirectoryError:
            return
        except OSError as exc:
            raise StoreError(f"cannot delete {key} from {self.url}: {exc.strerror or exc}") from exc
        parent = path.parent
        while parent != self.root:  # S3 has no empty folders; neither does this store
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; some platforms cannot open or fsync a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class S3Store:
    """A bucket, optionally under a key prefix; one thread-safe boto3 client from the standard AWS chain."""

    page_size = 1000  # keys per LIST request; tests lower it to exercise pagination
    remote = True  # each read waits on the network: read many at once (checking.read_all)

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        sse: str | None = "AES256",
        kms_key_id: str | None = None,
        object_lock_days: int | None = None,
    ) -> None:
        _check_s3_options(sse, kms_key_id, object_lock_days)
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._sse = sse
        self._kms_key_id = kms_key_id
        self._lock_days = object_lock_days
        import boto3.session  # here, not at the top: a local directory store (and `drkit --help`) never pays for it
        import botocore.config

        config = botocore.config.Config(retries=RETRIES, max_pool_connections=32)
        with self._translate("connect to"):
            self._client = boto3.session.Session().client("s3", config=config)

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    def _key(self, key: str) -> str:
        key = validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        """Upload `data` to `key` with the store's encryption and retention; S3 PUTs are atomic."""
        args: dict[str, object] = {"Bucket": self.bucket, "Key": self._key(key), "Body": bytes(data)}
        if self._sse:
            args["ServerSideEncryption"] = self._sse
        if self._kms_key_id:
            args["SSEKMSKeyId"] = self._kms_key_id
        if self._lock_days:
            until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=self._lock_days)
            args.update(ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until, ChecksumAlgorithm="SHA256")
        with self._translate("write", key):
            self._client.put_object(**args)

    def get(self, key: str) -> bytes:
        """Download the object at `key`, or raise ObjectNotFound."""
        full = self._key(key)
        with self._translate("read", key):
            return self._client.get_object(Bucket=self.bucket, Key=full)["Body"].read()

    def list(self, prefix: str) -> list[str]:
        """Sorted immediate children of folder `prefix`; sub-folders end with `/`; a missing folder is empty."""
        start = (f"{self.prefix}/" if self.prefix else "") + _validate_prefix(prefix)
        names: set[str] = set()
        with self._translate("list", prefix or None):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start, Delimiter="/", PaginationConfig={"PageSize": self.page_size}
            )
            for page in pages:
                names.update(item["Prefix"][len(start) :] for item in page.get("CommonPrefixes", []))
                names.update(item["Key"][len(start) :] for item in page.get("Contents", []))
        names.discard("")
        return sorted(names)

    def delete(self, key: str) -> None:
        """Remove the object at `key`; deleting a missing key is not an error."""
        full = self._key(key)
        with self._translate("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=full)

    @contextlib.contextmanager
    def _translate(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn botocore's exceptions into drkit's, naming the bucket, the key and the next step."""
        import botocore.exceptions

        where = f"{self.url}/{key}" if key else self.url
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            raise _client_error(exc, action, where, key, self.url) from exc
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as exc:
            raise StoreError(f"cannot {action} {where}: no AWS credentials found", hint=CREDENTIALS_HINT) from exc
        except botocore.exceptions.ProfileNotFound as exc:
            raise StoreError(f"cannot {action} {where}: {exc}", hint="fix AWS_PROFILE or ~/.aws/config") from exc
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError) as exc:
            endpoint = getattr(getattr(self, "_client", None), "meta", None)
            endpoint = endpoint.endpoint_url if endpoint else "the S3 endpoint"
            raise StoreError(
                f"cannot {action} {where}: cannot reach {endpoint}",
                hint="check the network and AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS_REGION",
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"cannot {action} {where}: {exc}", hint=CREDENTIALS_HINT) from exc


def _client_error(exc: Exception, action: str, where: str, key: str | None, url: str) -> StoreError:
    """Map an S3 error answer to ObjectNotFound or a StoreError that says what to do next."""
    error = getattr(exc, "response", {}).get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or code
    if code in ("NoSuchKey", "404", "NotFound") and key is not None:
        return ObjectNotFound(f"{key} not found in {url}")
    bucket = url[len("s3://") :].split("/", 1)[0]
    if code == "NoSuchBucket":
        return StoreError(
            f"cannot {action} {where}: bucket {bucket} does not exist",
            hint="create the bucket, or fix the bucket name in the store URL",
        )
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return StoreError(f"cannot {action} {where}: access denied ({code})", hint=CREDENTIALS_HINT)
    if code == "InvalidRequest" and "lock" in message.lower():
        return StoreError(
            f"cannot {action} {where}: {message}",
            hint=f"object lock needs a bucket created with object lock enabled; use another bucket than {bucket}",
        )
    return StoreError(f"cannot {action} {where}: S3 answered {code}: {message}")


def _check_s3_options(sse: str | None, kms_key_id: str | None, object_lock_days: int | None) -> None:
    if sse is not None and sse not in SSE_MODES:
        raise ConfigError(f"unknown server-side encryption {sse!r}", hint="use AES256, aws:kms, or none")
    if kms_key_id and sse != "aws:kms":
        raise ConfigError("a KMS key id needs server-side encryption aws:kms")
    if object_lock_days is not None and (
        isinstance(object_lock_days, bool) or not isinstance(object_lock_days, int) or object_lock_days < 1
    ):
        raise ConfigError(f"object lock days must be a whole number of at least 1, not {object_lock_days!r}")

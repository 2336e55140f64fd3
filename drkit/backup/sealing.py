"""Client-side encryption at rest: seal every object of a backup (and the manifest's sensitive fields) before the store.

Two schemes, chosen at export with `--encrypt`:
- `age:RECIPIENT`: each object is an age file (age-encryption.org/v1, through pyrage) for an X25519 recipient;
  restore opens it with the identity file (`--identity FILE`, as `age-keygen` writes it).
- `kms:KEY_ID`: envelope encryption. One data key per backup from KMS GenerateDataKey (AES-256), each object
  sealed with AES-256-GCM under it and a fresh 96-bit nonce; the manifest keeps only the KMS-wrapped data key,
  which KMS Decrypt unwraps at restore for whoever may use the key.
The manifest's checksums cover the sealed bytes, so `verify` checks a backup without any key; reading an object
(restore, a deep verify) needs the key. Names stay readable: they are the store's keys.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drkit.errors import ConfigError, IntegrityError

KMS_MAGIC = b"drkit-kms-v1\n"
SENSITIVE = ("server", "warnings")  # the rest of the manifest is counts, times, names and checksums
SCHEMES = "age:RECIPIENT (an age1... public key) or kms:KEY_ID (a KMS key id, ARN or alias)"
AGE_HINT = "use the age1... public key that age-keygen prints"
INSTALL = "install the encryption extra: pip install 'drkit[encrypt]'"


@dataclass
class Seal:
    """Seals and opens one backup's bytes; `block` is what the manifest records under `encryption`."""

    block: dict[str, Any]
    seal: Callable[[bytes], bytes]
    open: Callable[[bytes], bytes] | None  # None: the key to read is not at hand (verify checks checksums only)


def kms_client() -> Any:
    """A KMS client from boto3's standard chain (AWS_REGION, AWS_ENDPOINT_URL_KMS, IRSA)."""
    import boto3.session

    return boto3.session.Session().client("kms")


def for_export(spec: str, kms: Callable[[], Any]) -> Seal:
    """The Seal for `--encrypt SPEC`; `kms` makes a boto3 KMS client when the scheme needs one."""
    scheme, _, value = spec.partition(":")
    if scheme == "age" and value:
        pyrage = _pyrage()
        try:
            recipient = pyrage.x25519.Recipient.from_str(value.strip())
        except pyrage.RecipientError:
            raise ConfigError(
                f"--encrypt age:{value}: not an age X25519 recipient", hint="use the age1... key age-keygen prints"
            ) from None
        return Seal({"scheme": "age", "recipient": value.strip()}, lambda data: pyrage.encrypt(data, [recipient]), None)
    if scheme == "kms" and value:
        answer = kms_call(kms, "generate_data_key", KeyId=value, KeySpec="AES_256")
        key, wrapped = answer["Plaintext"], base64.b64encode(answer["CiphertextBlob"]).decode()
        block = {"scheme": "kms", "keyId": answer.get("KeyId", value), "wrappedKey": wrapped}
        return Seal(block, lambda data: _gcm_seal(key, data), lambda data: _gcm_open(key, data))
    raise ConfigError(f"--encrypt {spec!r} is not a scheme drkit knows", hint=f"use {SCHEMES}")


@dataclass
class Keys:
    """What a reader has to open encrypted backups: an age identity file's text, a KMS client maker (or None)."""

    identity: str | None = None
    kms: Callable[[], Any] | None = None
    sign: Any = None  # a signing.SignKey: the manifest must carry its signature


def for_reading(manifest: dict[str, Any], keys: Keys, *, required: str | None = None) -> Seal | None:
    """The Seal to read a backup (None: not encrypted); its `open` is None when no key is at hand.

    With `required` (the backup's name, for restore and diff), a missing key is a ConfigError instead.
    """
    block = manifest.get("encryption")
    if not block:
        return None
    if block["scheme"] == "age" and keys.identity:
        seal = Seal(block, _refuse, _age_opener(keys.identity))
    elif block["scheme"] == "kms" and keys.kms:
        key = kms_call(keys.kms, "decrypt", CiphertextBlob=base64.b64decode(block["wrappedKey"]))["Plaintext"]
        seal = Seal(block, _refuse, lambda data: _gcm_open(key, data))
    else:
        seal = Seal(block, _refuse, None)
    if required and seal.open is None:
        how = "pass --identity FILE (the age identity for " + block.get("recipient", "") + ")"
        raise ConfigError(f"{required} is encrypted with {block['scheme']}, and no key to read it was given", hint=how)
    return seal


def seal_manifest(manifest: dict[str, Any], seal: Seal) -> dict[str, Any]:
    """The manifest fields that replace the sensitive ones: the server URL and the warnings go sealed."""
    sensitive = json.dumps({field: manifest[field] for field in SENSITIVE}).encode()
    return {"encryption": seal.block, "sealed": base64.b64encode(seal.seal(sensitive)).decode(), "server": "",
            "warnings": []}  # fmt: skip


def open_manifest(manifest: dict[str, Any], seal: Seal | None) -> dict[str, Any]:
    """The manifest with its sensitive fields back, when it was sealed and the key is at hand."""
    if not seal or not seal.open or "sealed" not in manifest:
        return manifest
    return {**manifest, **json.loads(seal.open(base64.b64decode(manifest["sealed"])))}


def _age_opener(identity: str) -> Callable[[bytes], bytes]:
    pyrage = _pyrage()
    lines = [line.strip() for line in identity.splitlines() if line.strip().startswith("AGE-SECRET-KEY-")]
    try:
        keys = [pyrage.x25519.Identity.from_str(line) for line in lines]
    except pyrage.IdentityError:
        keys = []
    if not keys:
        raise ConfigError("--identity: no AGE-SECRET-KEY-... line in the file", hint="pass the file age-keygen wrote")

    def open_(data: bytes) -> bytes:
        try:
            return pyrage.decrypt(data, keys)
        except pyrage.DecryptError:
            raise IntegrityError("cannot decrypt with the --identity given: another key, or a damaged object") from None

    return open_


def _refuse(data: bytes) -> bytes:
    raise AssertionError("a backup being read is never written")


def _gcm_seal(key: bytes, data: bytes) -> bytes:
    nonce = os.urandom(12)
    return KMS_MAGIC + nonce + _aesgcm(key).encrypt(nonce, data, KMS_MAGIC)


def _gcm_open(key: bytes, data: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    if not data.startswith(KMS_MAGIC):
        raise IntegrityError("not an object drkit sealed with a KMS data key")
    body = data[len(KMS_MAGIC) :]
    try:
        return _aesgcm(key).decrypt(body[:12], body[12:], KMS_MAGIC)
    except InvalidTag:
        raise IntegrityError("cannot decrypt: the object does not match this backup's data key") from None


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise ConfigError("encryption needs the cryptography package", hint=INSTALL) from None
    return AESGCM(key)


def _pyrage() -> Any:
    try:
        import pyrage
    except ImportError:
        raise ConfigError("age encryption needs the pyrage package", hint=INSTALL) from None
    return pyrage


def kms_call(kms: Callable[[], Any], method: str, **args: Any) -> dict[str, Any]:
    """One KMS request, its botocore errors turned into drkit's with the next step."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(kms(), method)(**args)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ConfigError(
            f"KMS {method} failed ({code})",
            hint="check the key id and region, and that drkit's role may use it (kms:GenerateDataKey, kms:Decrypt)",
        ) from None
    except BotoCoreError as exc:
        raise ConfigError(
            f"KMS {method} failed ({type(exc).__name__})", hint="check the network and AWS_REGION"
        ) from None

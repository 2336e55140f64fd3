"""`drkit export`: snapshot an Argo CD instance into a new backup in the store."""

from __future__ import annotations

import sys
from typing import Any

import click

from drkit.argocd.kinds import KINDS
from drkit.backup import format as backup
from drkit.cli.flags import (
    Place,
    apply_options,
    at_instance,
    encrypt_option,
    export_seal,
    kinds_option,
    kube_client,
    kube_options,
    make_client,
    opt,
    output_option,
    read_sign_key,
    server_options,
    sign_key_option,
)
from drkit.cli.output import emit, metrics_options, observe, stderr
from drkit.errors import EXIT_OK, EXIT_PARTIAL, ConfigError
from drkit.export import export as exporting
from drkit.kube.capture import capture
from drkit.ops import metrics
from drkit.restore.progress import bar


@click.command()
@metrics_options
@apply_options(server_options)
@at_instance()
@opt("--kinds", help=f"Comma-separated kinds to export [default: all: {','.join(KINDS)}].")
@opt(
    "--max-shrink",
    type=click.FloatRange(0, 1),
    default=0.5,
    help="Flag the backup when it shrinks by more than this fraction.",
)
@opt("--sse", type=click.Choice(["AES256", "aws:kms", "none"]), default="AES256", help="S3 server-side encryption.")
@opt("--kms-key-id", help="KMS key for --sse aws:kms.")
@opt("--object-lock-days", type=click.IntRange(1), help="S3 Object Lock retention (compliance mode), in days.")
@opt("--concurrency", type=click.IntRange(1, 64), default=16, help="Parallel requests and writes.")
@encrypt_option
@sign_key_option
@apply_options(kube_options)
@opt(
    "--kube-secrets",
    type=click.Choice(["store", "skip"]),
    default="store",
    help="With --kube: store the Secrets (only in an --encrypt backup), or skip them with a warning.",
)
@output_option
def export(
    place: Place,
    server: str | None,
    kinds: str | None,
    max_shrink: float,
    concurrency: int,
    encrypt: str | None,
    sign_key: str | None,
    kube: bool,
    kube_namespace: str,
    kubeconfig: str | None,
    kube_context: str | None,
    kube_secrets: str,
    output: str,
    **auth: Any,
) -> None:
    """Snapshot an Argo CD instance into a new backup in the store.

    With --kube, the backup also holds Argo CD's ConfigMaps and, in an --encrypt backup only, its Secrets
    (repository, cluster and SSO credentials, the token signing key), so a restore needs no credentials file.
    """
    selected = kinds_option(kinds)
    seal, sign = export_seal(encrypt), read_sign_key(sign_key)
    if kube and kube_secrets == "store" and seal is None:
        raise ConfigError(
            "--kube stores Argo CD's Secrets, and drkit stores Secrets only in a client-side encrypted backup",
            hint="add --encrypt age:RECIPIENT (or kms:KEY_ID), or --kube-secrets=skip to back up only the ConfigMaps",
        )
    client = make_client(server, **auth)
    captured = None
    if (kubernetes := kube_client(kube, kube_namespace, kubeconfig, kube_context)) is not None:
        captured = capture(kubernetes, secrets=kube_secrets == "store")
        if kube_secrets == "skip":
            captured.warnings.append(
                f"secrets of namespace {kube_namespace}: not backed up (--kube-secrets=skip); a restore of this backup "
                "needs the credentials file for repositories and clusters, and keeps the target's signing key"
            )
    target, name = place.store, place.instance
    tuning = {
        "max_shrink": max_shrink,
        "concurrency": concurrency,
        "progress": (lambda d, t: stderr(bar(d, t))) if sys.stderr.isatty() else None,
    }
    result = exporting.export(client, target, name, selected, **tuning, seal=seal, sign=sign, kube=captured)
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    lines = [f"backup {result.backup_id} of {name} written to {target.url}: {counts}"]
    lines += [f"warning: {w}" for w in result.to_json()["warnings"]]
    observe(name, lambda run: metrics.record_manifest(run, backup.read_manifest(target, name, result.backup_id)))
    emit(output, result.to_json(), lines)
    sys.exit(EXIT_OK if result.ok else EXIT_PARTIAL)

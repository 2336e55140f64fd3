"""drkit: disaster recovery for Argo CD through its REST API.

The tree, one package per stage; each package's docstring says what it owns and what it may import
(`tests/test_layout.py` holds the code to those lines):

    drkit/errors.py   the error classes, each with its exit code and what to do next (imports nothing)
    drkit/argocd/     what Argo CD is: the API client, the kinds table, readings, URLs, versions, settings, refs
    drkit/backup/     what a backup is: format, documents, schemas, store, sealing, signing, verify, retention
    drkit/export/     export: Argo CD's lists streamed into a new backup, the manifest last
    drkit/restore/    restore: credentials, remap, plan, apply, read-back, converge, report
    drkit/ops/        running as a job: drills, metrics, signals
    drkit/cli/        the command line, the only place that prints or exits
    drkit/testing/    the Argo CD API simulator (imports nothing of drkit's own: it is an independent double)
    drkit/schemas/    the JSON Schemas of every stored document (package data)

An export: cli.export -> export.export.export -> export.snapshot (argocd.client lists, argocd.kinds
normalizes, backup.schema validates, backup.sealing seals, backup.store puts) -> the manifest (backup.signing).
A restore: cli.restore -> restore.apply.restore -> backup.format.load (backup.checking: checksum,
schema) -> restore.credentials -> restore.remap -> restore.plan (against argocd.client's live lists) -> writes
in argocd.kinds.RESTORE_ORDER -> restore.readback -> restore.pipeline + restore.converge -> restore.report.
"""

__version__ = "0.1.0"

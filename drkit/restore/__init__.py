"""Restore: credentials, selection and remap, the plan, the writes in dependency order, read-back, then converge
(refresh, sync, wait healthy, re-arm) and the report.

Stage: restore (store -> Argo CD); plan first, then write, then converge.
May import: drkit.errors, drkit.argocd, drkit.kube, drkit.backup.
"""

"""Running drkit as a job: restore drills on a scratch Argo CD, Prometheus metrics, and the signals that stop a run.

Stage: operations around export and restore.
May import: drkit.errors, drkit.argocd, drkit.kube, drkit.backup, drkit.export, drkit.restore, drkit.testing.
"""

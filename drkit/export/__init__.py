"""Export: read every kind from Argo CD as it streams and write a new backup, the manifest last.

Stage: export (Argo CD -> store).
May import: drkit.errors, drkit.argocd, drkit.kube, drkit.backup.
"""

"""What a backup is: its format (ids, manifest, `latest`), YAML documents, JSON Schemas, the store, sealing and
signing, checking as objects are read, verify, retention and history.

Stage: the backup at rest, written by export and read by restore; it never talks to Argo CD or Kubernetes.
May import: drkit.errors, drkit.argocd, drkit.kube.
"""

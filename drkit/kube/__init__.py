"""What Kubernetes holds of Argo CD: the Secrets and ConfigMaps the REST API never returns or cannot write.

The client wraps the official `kubernetes` library (kubeconfig, its contexts and exec credential plugins, the
in-cluster service account, proxies), so none of that is drkit's own code; `kinds` says which objects a capture
takes, how they are normalised and which keys are secret, without ever printing a value.

Stage: shared by export and restore, beside drkit.argocd; it knows nothing of backups or stores.
May import: drkit.errors.
"""

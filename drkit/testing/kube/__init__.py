"""A simulated Kubernetes core/v1 API for ConfigMaps and Secrets, as strict as kube-apiserver, for drkit's tests.

Layers (tests/sim/test_layers.py checks them): `status` (Status errors), `rbac` and `kubeconfig` at the bottom;
`validation`, `patch`, `selectors` and `codec` above them; `store` (the objects and their write semantics);
`server` (HTTP, tokens, RBAC). The Argo CD simulator keeps its repositories, repository credentials, clusters
and settings in a `store.Store` (drkit/testing/secret_db.py), as Argo CD keeps them in its namespace.
"""

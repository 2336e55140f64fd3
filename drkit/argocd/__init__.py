"""What Argo CD is, as drkit needs it: the REST API client, the kinds table, each kind's readings and URLs,
which fields each version knows, the settings that change a sync, and what an object depends on.

Stage: shared by export and restore; it knows nothing of backups or stores.
May import: drkit.errors.
"""

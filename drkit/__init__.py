"""drkit: disaster recovery for Argo CD through its REST API."""

__version__ = "0.1.0"

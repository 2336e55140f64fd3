"""drkit's command line: parse flags, build objects, call one library function, render; the only place that exits.

Stage: the outermost layer, one module per group of commands sharing `flags`.
May import: drkit.errors, drkit.argocd, drkit.backup, drkit.export, drkit.restore, drkit.ops.
"""

from drkit.cli.commands import main

__all__ = ["main"]

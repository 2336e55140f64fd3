"""How much the simulated Argo CD does at once and how long each piece takes: the controller's processors and
the API server's cost per request.

The defaults keep tests fast; benchmarks set real figures (20 or 100 operation processors, 1 s syncs, a
validated app create costing far more than a GET) so a client's pace can be compared with the controller's own.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

# Argo CD's defaults (cmd/argocd-application-controller/commands/argocd_application_controller.go, master):
# --operation-processors 10, --status-processors 20.
OPERATION_PROCESSORS = 10
STATUS_PROCESSORS = 20


@dataclass(frozen=True)
class ServerCost:
    """Seconds argocd-server spends on a request before it answers (the request's own latency, not a queue)."""

    call: float = 0.0  # every API request: auth, RBAC, the gateway's JSON and gRPC round trip
    write: float = 0.0  # more for a create, update or delete (a Kubernetes write)
    validate: float = 0.0  # more for an app create or update with validate=true (repo-server and cluster checks)
    item: float = 0.0  # more per object a list returns (each is converted and marshalled)

    def of(self, method: str, operation: str, validate: bool, items: int) -> float:
        """The cost of one request."""
        cost = self.call + items * self.item
        if method != "GET":
            cost += self.write
        if validate and operation in VALIDATED:
            cost += self.validate
        return cost


# Operations that take `validate` (default true) and then ask repo-server and the destination cluster
VALIDATED = frozenset({"ApplicationService_Create", "ApplicationService_Update", "ApplicationService_UpdateSpec"})


@dataclass(frozen=True)
class Capacity:
    """The application controller's processors and how long each reconciliation and sync occupies one."""

    operation_processors: int = OPERATION_PROCESSORS
    status_processors: int = STATUS_PROCESSORS
    reconcile_seconds: float = 0.02  # one status reconciliation (refresh, health, auto-sync decision)
    sync_seconds: float | None = None  # one sync operation; None: as long as a reconciliation
    appset_seconds: float = 0.0  # how much later than a change the ApplicationSet controller generates
    server: ServerCost = field(default_factory=ServerCost)

    def __post_init__(self) -> None:
        if self.operation_processors < 1 or self.status_processors < 1:
            raise ValueError("the controller needs at least one operation processor and one status processor")

    @property
    def sync(self) -> float:
        """Seconds one sync occupies an operation processor."""
        return self.reconcile_seconds if self.sync_seconds is None else self.sync_seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's command-line options for its capacity (see Capacity and ServerCost)."""
    group = parser.add_argument_group("capacity", "how much the simulated Argo CD does at once, and how fast")
    group.add_argument(
        "--operation-processors",
        type=_positive,
        default=OPERATION_PROCESSORS,
        metavar="N",
        help=f"syncs the controller runs at once [default: {OPERATION_PROCESSORS}, as Argo CD]",
    )
    group.add_argument(
        "--status-processors",
        type=_positive,
        default=STATUS_PROCESSORS,
        metavar="N",
        help=f"app reconciliations the controller runs at once [default: {STATUS_PROCESSORS}]",
    )
    group.add_argument(
        "--reconcile-seconds",
        type=_seconds,
        default=0.02,
        metavar="S",
        help="how long one reconciliation occupies a status processor [default: 0.02]",
    )
    group.add_argument(
        "--sync-seconds",
        type=_seconds,
        default=None,
        metavar="S",
        help="how long one sync occupies an operation processor [default: one reconciliation]",
    )
    for name, what in (
        ("call", "every API request"),
        ("write", "a create, update or delete, on top"),
        ("validate", "an app create or update with validate=true, on top"),
        ("item", "each object a list returns, on top"),
    ):
        group.add_argument(
            f"--{name}-seconds",
            type=_seconds,
            default=0.0,
            metavar="S",
            help=f"argocd-server time for {what} [default: 0]",
        )
    # fmt: skip


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Simulator keyword arguments from the options add_arguments defined."""
    cost = ServerCost(call=args.call_seconds, write=args.write_seconds, validate=args.validate_seconds,
                      item=args.item_seconds)  # fmt: skip
    return {
        "operation_processors": args.operation_processors,
        "status_processors": args.status_processors,
        "reconcile_seconds": args.reconcile_seconds,
        "sync_seconds": args.sync_seconds,
        "server_cost": cost,
    }


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value

"""How a command publishes its result: one JSON document or human lines on stdout, progress on stderr, metrics."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click

from drkit.cli.flags import opt
from drkit.ops import metrics


def metrics_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--metrics-textfile and --pushgateway: publish the run's metrics whatever its outcome (see drkit.ops.metrics)."""

    @functools.wraps(fn)
    def run(*args: Any, metrics_textfile: str | None, pushgateway: str | None, **kwargs: Any) -> Any:
        if not metrics_textfile and not pushgateway:
            return fn(*args, **kwargs)
        ctx = click.get_current_context()
        ctx.meta["drkit.ops.metrics"] = recorder = metrics.Run(ctx.info_name or "", kwargs.get("instance") or "")
        with metrics.recording(recorder, metrics_textfile, pushgateway, warn=lambda m: click.echo(m, err=True)):
            return fn(*args, **kwargs)

    textfile = opt("--metrics-textfile", type=click.Path(dir_okay=False), help="Write Prometheus metrics here.")
    gateway = opt("--pushgateway", metavar="URL", help="Push Prometheus metrics to this Pushgateway.")
    return textfile(gateway(run))


def observe(instance: str, record: Callable[[metrics.Run], None]) -> None:
    """Hand the command's result to the metrics, when --metrics-textfile or --pushgateway asked for them."""
    recorder = click.get_current_context().meta.get("drkit.ops.metrics")
    if recorder is not None:
        recorder.instance = instance
        record(recorder)


def emit(output: str, document: Any, lines: list[str]) -> None:
    """One JSON document on stdout for -o json, else human lines."""
    if output == "json":
        click.echo(json.dumps(document, indent=2, sort_keys=False))
    else:
        for line in lines:
            click.echo(line)


def stderr(text: str) -> None:
    """Write progress to stderr as it is (the text says where lines end)."""
    click.echo(text, err=True, nl=False)

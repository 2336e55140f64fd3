"""runbooks/alerts.yaml (issue 10): a well-formed PrometheusRule whose every selector matches metrics drkit emits.

The Prometheus Python client has no PromQL parser, only the exposition-format one. So each expression is checked
as far as that parser can go: every metric selector, written as an exposition sample line, must parse, name a
metric drkit emits (collected from real export and drill runs), and match at least one emitted sample; every
`by (...)` label must be one the metric carries; brackets must balance.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from drkit.cli import main
from drkit.ops import metrics
from drkit.testing import Simulator, seed

ROOT = Path(__file__).resolve().parent.parent
RULES = yaml.safe_load((ROOT / "runbooks" / "alerts.yaml").read_text())
ALERTS = [rule for group in RULES["spec"]["groups"] for rule in group["rules"]]
SELECTOR = re.compile(r"\b(drkit_[a-z_]+)(\{[^}]*\})?")
BY = re.compile(r"\bby\s*\(([^)]*)\)")


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples from an export and a simulated drill of the demo instance, as their textfiles hold them."""
    path = tmp_path_factory.mktemp("alerts")
    store = ["--store", str(path / "store")]
    with Simulator(app_namespaces=("team-a",)) as source:
        seed.load(source, seed.read("demo"))
        auth = ["--server", source.address, "--plaintext", "--auth-token", source.token]
        runs = [
            ["export", *auth, "--instance", "demo", "--metrics-textfile", str(path / "export.prom")],
            ["drill", "--simulate", "--instance", "demo", "--metrics-textfile", str(path / "drill.prom")],
        ]
        for args in runs:
            result = CliRunner().invoke(main, [*args, *store])
            assert result.exit_code == 0, result.output
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name in ("export.prom", "drill.prom"):
        for metric, found in metrics.parse((path / name).read_text()).items():
            samples.setdefault(metric, []).extend(found)
    return samples


def test_the_rule_has_the_prometheus_operator_shape():
    assert RULES["apiVersion"] == "monitoring.coreos.com/v1" and RULES["kind"] == "PrometheusRule"
    assert RULES["metadata"]["name"]
    for rule in ALERTS:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        assert (ROOT / rule["annotations"]["runbook_url"]).is_file()
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"])


def test_the_issue_s_alerts_are_there():
    exprs = {rule["alert"]: rule["expr"] for rule in ALERTS}
    assert "26 * 3600" in exprs["DrkitNoSuccessfulExport"] and 'command="export"' in exprs["DrkitNoSuccessfulExport"]
    assert "drkit_backup_suspicious" in exprs["DrkitSuspiciousBackup"]
    assert 'drkit_exit_code{command="drill"}' in exprs["DrkitDrillFailed"]
    assert 'phase="total"' in exprs["DrkitDrillRecoverySlow"] and ">" in exprs["DrkitDrillRecoverySlow"]


@pytest.mark.parametrize("rule", ALERTS, ids=[r["alert"] for r in ALERTS])
def test_every_selector_parses_and_matches_what_drkit_emits(rule: dict, emitted: dict):
    expr = rule["expr"]
    assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
    selectors = SELECTOR.findall(expr)
    assert selectors, "an alert on drkit uses a drkit metric"
    for name, matchers in selectors:
        assert name in metrics.METRICS and name in emitted, f"{name} is not a metric drkit emits"
        [family] = text_string_to_metric_families(f"{name}{matchers} 0\n")  # equality matchers only
        [sample] = family.samples
        matching = [labels for labels, _ in emitted[name] if sample.labels.items() <= labels.items()]
        assert matching, f"{name}{matchers} matches no sample drkit emits"
        for group in BY.findall(expr):
            for label in (g.strip() for g in group.split(",")):
                assert all(label in labels for labels in matching), f"{name} has no label {label}"


def test_the_selector_check_can_fail(emitted: dict):
    """A selector naming a label value drkit never emits is caught."""
    [family] = text_string_to_metric_families('drkit_recovery_seconds{phase="warmup"} 0\n')
    [sample] = family.samples
    assert not [lab for lab, _ in emitted["drkit_recovery_seconds"] if sample.labels.items() <= lab.items()]

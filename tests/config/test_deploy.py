"""deploy/ refers only to metrics the app exports (a renamed metric must not silently
empty a dashboard panel or disarm an alert). promtool runs the rules' own tests in CI."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\b((?:payments?|pg)_[a-z_]+)\b")

pytestmark = [pytest.mark.django_db]


def exported(client) -> set[str]:
    text = client.get("/metrics").content.decode()
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    names |= set(re.findall(r"^([a-z_]+)[{ ]", text, re.M))
    return names | {n + suffix for n in names for suffix in ("_bucket", "_count", "_sum", "_total")}


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/payments.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.mark.parametrize("source", [alert_expressions, dashboard_expressions])
def test_every_metric_deploy_uses_is_exported(client, source):
    used = {name for expr in source() for name in METRIC.findall(expr)}
    assert used, "no metric found: the pattern is broken"
    assert used - exported(client) == set()


def test_the_alerts_cover_what_operators_must_know():
    names = {
        rule["alert"]
        for group in yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert names == {
        "PaymentsStuck",
        "PaymentsNeedAttention",
        "PgErrorRateHigh",
        "CompensationBacklog",
        "LoadShed",
        "OutboxParked",
        "OutboxBacklog",
        "RefundsInDoubt",
        "GatewayDown",
        "GatewayRecoveredStillInDoubt",
        "ReconciliationDiscrepanciesOpen",
        "ReconciliationMissing",
        "DepositReversed",
        "RefundAccountAwaited",
    }

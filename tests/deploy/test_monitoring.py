"""What an operator gets: pods annotated for scraping where /metrics really is, alert rules promtool accepts,
a dashboard with the panels they open first, and every metric those name is one the services export, with
names promtool's linter accepts."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from auth_service.config import Settings as AuthSettings
from auth_service.main import create_app as create_auth_app
from order_service.config import Settings as OrderSettings
from order_service.main import create_app as create_order_app
from product_service.config import Settings as ProductSettings
from product_service.main import create_app as create_product_app
from tests.deploy.support import APPS, DEPLOYMENT_DIR, SERVICE_PORT, named, rendered_deployment, require_tool

MONITORING = DEPLOYMENT_DIR / "monitoring"
ALERTS, DASHBOARD = MONITORING / "alerts.yml", MONITORING / "dashboard.json"
# Metrics that come from elsewhere: Prometheus itself and kube-state-metrics.
EXTERNAL = {"up", "kube_pod_status_ready"}
OUR_PREFIXES = ("http_", "db_", "dependency_", "auth_", "product_", "order_")


def promtool() -> str:
    return require_tool("promtool", "install Debian's `prometheus` package (make bootstrap does)")


@pytest.fixture(scope="module")
def exposition(tmp_path_factory) -> str:
    """What the three services' /metrics serve, one after the other (each app after a request or two)."""
    var = tmp_path_factory.mktemp("var")
    common: dict[str, Any] = {"APP_ENV": "test", "DB_HOST": None, "VAR_DIR": var}
    apps: list[FastAPI] = [
        create_auth_app(AuthSettings(**common)),
        create_product_app(ProductSettings(**common)),
        create_order_app(OrderSettings(**common)),
    ]
    texts = []
    for app in apps:
        with TestClient(app, raise_server_exceptions=False) as client:
            client.get("/api/v0/nowhere")
            texts.append(client.get("/metrics").text)
    return texts[-1]  # one process, one registry: the last scrape holds every family


def exported_families(exposition: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", exposition, flags=re.MULTILINE))


def named_metrics(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (ours, and the external ones it may use)."""
    words = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b(?=\s*[{\[)])", expression))
    words |= set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*$", expression))
    metrics = {word for word in words if word.startswith(OUR_PREFIXES) or word in EXTERNAL}
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in metrics}


def family_of(name: str) -> str:
    return name.removesuffix("_total")


def test_each_service_pod_is_annotated_where_its_metrics_are() -> None:
    manifests = rendered_deployment()
    for app in APPS.values():
        template = named(manifests, "Deployment", app)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        [container] = template["spec"]["containers"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) == SERVICE_PORT
        assert {port["containerPort"] for port in container["ports"]} == {SERVICE_PORT}


def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    alerts = {rule["alert"] for rule in rules}
    for expected in ("HighErrorRatio", "SlowRoute", "ReconcilerBacklogGrowing", "ReplicaNotReady"):
        assert expected in alerts, expected


def test_promtool_lints_what_the_services_export(exposition: str) -> None:
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_has_the_panels_an_operator_opens_first() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = " | ".join(panel["title"].lower() for panel in dashboard["panels"])
    for wanted in (
        "request rate",
        "error rate",
        "p99",
        "pool saturation",
        "dependency errors",
        "reconciler backlog",
        "stock reservations per second",
    ):
        assert wanted in titles, wanted
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(target["expr"] for target in panel["targets"]), panel["title"]


@pytest.mark.parametrize("source", [ALERTS, DASHBOARD], ids=lambda path: Path(path).name)
def test_every_metric_named_is_one_the_services_export(source: Path, exposition: str) -> None:
    if source.suffix == ".json":
        panels = json.loads(source.read_text())["panels"]
        expressions = [target["expr"] for panel in panels for target in panel["targets"]]
    else:
        groups = yaml.safe_load(source.read_text())["groups"]
        expressions = [rule["expr"] for group in groups for rule in group["rules"]]
    exported = {family_of(name) for name in exported_families(exposition)}
    named = set().union(*(named_metrics(expression) for expression in expressions))
    assert named, source
    unknown = {name for name in named if name not in EXTERNAL and family_of(name) not in exported}
    assert not unknown, f"{source.name} names metrics no service exports: {sorted(unknown)}"

"""The Helm chart rendered by helm's own template engine (helm-python-sdk) and every manifest
validated against Kubernetes' schemas in strict mode (kubernetes-validate), for both values files
in deploy/helm/lifeboat/ci/; values.schema.json refuses a bad value, naming the field."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _check_chart() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_chart", DEPLOY / "check_chart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_chart"] = module
    spec.loader.exec_module(module)
    return module


check_chart = _check_chart()


def test_both_values_files_render_and_validate() -> None:
    files = [p.name for p in check_chart.values_files()]
    assert files == ["embedded.yaml", "production.yaml"]
    problems: list[str] = []
    summary = check_chart.check_chart(problems)
    assert problems == []
    assert len(summary) == 2

    production = yaml.safe_load((check_chart.CHART / "ci" / "production.yaml").read_text())
    docs = check_chart.render(production)
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == [
        "ConfigMap", "Deployment", "Ingress", "Job", "NetworkPolicy", "PodDisruptionBudget",
        "Service",
    ]  # fmt: skip
    # existingSecret everywhere: the chart makes no Secret of its own, and refers to the user's.
    text = yaml.safe_dump_all(docs)
    for name in ("lifeboat-credentials", "lifeboat-clouds", "lifeboat-ceph", "kafka-ca"):
        assert name in text
    receiver = {d["kind"] for d in docs if d["metadata"]["name"] == "check-lifeboat-receiver"}
    assert receiver == {"Deployment", "Service", "NetworkPolicy"}

    # The validator really refuses what Kubernetes would: an unknown field in a Deployment.
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    refused: list[str] = []
    check_chart.validate([deployment], "tampered", refused)
    assert len(refused) == 1
    assert "livenessprobe" in refused[0]


def test_schema_refuses_a_bad_value_naming_the_field() -> None:
    values = yaml.safe_load((check_chart.CHART / "ci" / "embedded.yaml").read_text())
    values["services"]["replicator"]["replicas"] = "two"
    with pytest.raises(check_chart.ValuesRefused) as refused:
        check_chart.render(values)
    assert "/services/replicator/replicas" in str(refused.value)
    assert "want integer" in str(refused.value)

    values["services"]["replicator"]["replicas"] = 1
    values["ingress"] = {"enabled": True, "hots": "typo.example.com"}
    with pytest.raises(check_chart.ValuesRefused, match="hots"):
        check_chart.render(values)


def test_no_report_signing_key_is_refused_unless_generation_is_asked_for() -> None:
    values = yaml.safe_load((check_chart.CHART / "ci" / "embedded.yaml").read_text())
    values["secret"].pop("generateReportSigningKey")
    with pytest.raises(check_chart.ValuesRefused, match=r"secret\.reportSigningKey is required"):
        check_chart.render(values)
    values["secret"]["reportSigningKey"] = (
        "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"
    )
    secret = next(d for d in check_chart.render(values) if d["kind"] == "Secret")
    assert secret["stringData"]["report-signing-key"].startswith("-----BEGIN PRIVATE KEY-----")

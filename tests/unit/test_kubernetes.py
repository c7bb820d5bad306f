"""Kubernetes on paper, validated offline (no cluster, no helm binary): the plain manifests of
deploy/kubernetes/ against the Kubernetes OpenAPI schemas bundled with kubernetes-validate (strict: unknown
fields fail), the Helm values against the Dagster chart's values structure (tests/support/dagster_chart.py),
and both against Atlas itself (image user, API routes, code location, Dagster instance settings, secrets).
What this does not prove is listed in docs/scaling.md."""

from __future__ import annotations

import copy
import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

from atlas_api.api.routes.health import router as health_router
from tests.support.dagster_chart import VALUES_SCHEMA

PROJECT = Path(__file__).resolve().parents[2]
DEPLOY = PROJECT / "deploy" / "kubernetes"
MANIFESTS = ["atlas-config.yaml", "atlas-migrate-job.yaml", "atlas-api.yaml"]
K8S_VERSIONS = ["1.30.0", "1.37.0"]  # oldest and newest minor this deployment is checked against
RELEASE = "dagster"  # the Helm release name the docs install the chart as


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8")) if d]


def objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for name in MANIFESTS for d in documents(name)}


def values() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "dagster-values.yaml").read_text(encoding="utf-8"))


def dockerfile_uid() -> int:
    match = re.search(r"useradd .*--uid (\d+)", (PROJECT / "Dockerfile").read_text(encoding="utf-8"))
    assert match, "the Dockerfile creates its user with --uid"
    return int(match.group(1))


def k8s_definitions(version: str = "1.37.0") -> dict[str, Any]:
    path = f"kubernetes-json-schema/v{version}-local-strict/_definitions.json"
    return json.loads(files("kubernetes_validate").joinpath(path).read_text(encoding="utf-8"))


def chart_validator() -> jsonschema.protocols.Validator:
    registry: Registry = Resource.from_contents(k8s_definitions()) @ Registry()
    return jsonschema.Draft202012Validator(VALUES_SCHEMA, registry=registry)


def validate_fragment(fragment: dict[str, Any], definition: str) -> None:
    """Check a partial Kubernetes object (what dagster-k8s merges into the objects it creates): the
    fields given must be fields of ``definition`` with valid values; required fields may be left out."""
    definitions = k8s_definitions()
    schema = {k: v for k, v in definitions["$defs"][definition].items() if k != "required"}
    jsonschema.Draft202012Validator({**schema, "$defs": definitions["$defs"]}).validate(fragment)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_are_valid_kubernetes_objects(version: str) -> None:
    found = objects()
    assert set(found) == {
        ("ConfigMap", "atlas-config"),
        ("Job", "atlas-migrate"),
        ("ServiceAccount", "atlas-api"),
        ("Deployment", "atlas-api"),
        ("Service", "atlas-api"),
    }
    for obj in found.values():
        assert kubernetes_validate.validate(obj, version, strict=True) == version.rsplit(".", 1)[0]
    assert not [k for k in found if k[0] == "Secret"]  # secrets are created with kubectl, never committed


def test_the_validation_is_strict_and_typed() -> None:
    deployment = objects()[("Deployment", "atlas-api")]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {"httpGet": {"path": "/health"}}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenessprobe"):
        kubernetes_validate.validate(misspelt, "1.37.0", strict=True)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, "1.37.0", strict=True)


def test_api_deployment_probes_ports_security_and_secrets() -> None:
    found = objects()
    deployment, service = found[("Deployment", "atlas-api")], found[("Service", "atlas-api")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    # Probes hit the API's real health routes, on the container's named port.
    routes = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    for probe, path in (
        ("livenessProbe", "/health"),
        ("startupProbe", "/health"),
        ("readinessProbe", "/ready"),
    ):
        assert container[probe]["httpGet"]["path"] == path and path in routes
        assert container[probe]["httpGet"]["port"] in ports
    # The command serves on that port and reaches the webserver Service the chart creates for the release.
    command = container["command"]
    assert command[:2] == ["atlas", "api"]
    assert (
        int(command[command.index("--port") + 1])
        == ports["http"]
        == int(found[("ConfigMap", "atlas-config")]["data"]["ATLAS_API_PORT"])
    )
    assert command[command.index("--dagster-url") + 1] == f"http://{RELEASE}-dagster-webserver:80/graphql"
    # The Service selects the pods and targets the named port.
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert service["spec"]["ports"][0]["targetPort"] in ports

    # Non-root as the image's own user, nothing to escalate to, read-only root filesystem.
    for obj in (deployment, found[("Job", "atlas-migrate")]):
        spec = obj["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == dockerfile_uid()
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert {"/tmp", found[("ConfigMap", "atlas-config")]["data"]["ATLAS_HOME"]} <= mounts

    # Credentials only through secretKeyRef; plain values and the ConfigMap hold none.
    env = {e["name"]: e for e in container["env"]}
    secret_like = [n for n in env if re.search(r"KEY|SECRET|PASSWORD|_URL$", n)]
    assert secret_like and all("secretKeyRef" in env[n].get("valueFrom", {}) for n in secret_like)
    assert not [n for n, e in env.items() if "value" in e]
    assert not [
        k for k in found[("ConfigMap", "atlas-config")]["data"] if re.search(r"KEY|SECRET|PASSWORD|_URL$", k)
    ]


def test_helm_values_match_the_dagster_chart_structure() -> None:
    validator = chart_validator()
    chart_values = values()
    errors = sorted(validator.iter_errors(chart_values), key=lambda e: list(e.path))
    assert not errors, [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]
    launcher = chart_values["runLauncher"]["config"]["k8sRunLauncher"]
    # runK8sConfig is free-form in the chart and handed to dagster-k8s: check it as the Kubernetes types.
    validate_fragment(launcher["runK8sConfig"]["podSpecConfig"], "io.k8s.api.core.v1.PodSpec")
    validate_fragment(launcher["runK8sConfig"]["jobSpecConfig"], "io.k8s.api.batch.v1.JobSpec")
    with pytest.raises(jsonschema.ValidationError):
        validate_fragment({"securityContext": {"runAsUser": "atlas"}}, "io.k8s.api.core.v1.PodSpec")

    # The check is not vacuous: a misspelt key, a wrong type, a bad enum and a bad Kubernetes field fail.
    mutations: list[tuple[list[Any], object]] = [
        (["runLauncher", "config", "k8sRunLauncher", "envSecret"], []),
        (["dagster-user-deployments", "deployments", 0, "port"], "4000"),
        (["runLauncher", "type"], "K8sLauncher"),
        (["dagster-user-deployments", "deployments", 0, "securityContext", "runAsNonroot"], True),
    ]
    for path, value in mutations:
        broken = copy.deepcopy(chart_values)
        target: Any = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert list(validator.iter_errors(broken)), path


def test_helm_values_wire_the_atlas_code_location_and_instance() -> None:
    chart_values = values()
    (location,) = chart_values["dagster-user-deployments"]["deployments"]
    api = objects()[("Deployment", "atlas-api")]["spec"]["template"]["spec"]["containers"][0]
    # The same Atlas image as the API, serving the same code location as docker-compose.yml's code server.
    assert f"{location['image']['repository']}:{location['image']['tag']}" == api["image"]
    compose = yaml.safe_load((PROJECT / "docker-compose.yml").read_text(encoding="utf-8"))
    code = compose["services"]["dagster-code"]["command"]
    args = location["dagsterApiGrpcArgs"]
    for flag in ("--module-name", "--attribute"):
        assert args[args.index(flag) + 1] == code[code.index(flag) + 1]
    assert location["port"] == int(code[code.index("--port") + 1])
    assert location["includeConfigInLaunchedRuns"]["enabled"] is True
    assert {"name": "atlas-config"} in location["envConfigMaps"] and {"name": "atlas-secrets"} in location[
        "envSecrets"
    ]
    assert location["podSecurityContext"]["runAsUser"] == dockerfile_uid()
    assert location["podSecurityContext"]["runAsNonRoot"] is True

    # One Kubernetes Job per run; Dagster's PostgreSQL password only from a Secret.
    assert chart_values["runLauncher"]["type"] == "K8sRunLauncher"
    assert (
        chart_values["runLauncher"]["config"]["k8sRunLauncher"]["securityContext"]["runAsUser"]
        == dockerfile_uid()
    )
    assert (
        chart_values["postgresql"]["enabled"] is False
        and "postgresqlPassword" not in chart_values["postgresql"]
    )
    assert (
        chart_values["generatePostgresqlPasswordSecret"] is False
        and chart_values["global"]["postgresqlSecretName"]
    )

    # The run queue and op pools are those of the instance Atlas runs with everywhere else.
    instance = yaml.safe_load((PROJECT / "dagster_home" / "dagster.yaml").read_text(encoding="utf-8"))[
        "concurrency"
    ]
    concurrency = chart_values["concurrency"]
    assert concurrency["enabled"] is True
    assert concurrency["runs"]["maxConcurrentRuns"] == instance["runs"]["max_concurrent_runs"]
    assert concurrency["runs"]["tagConcurrencyLimits"] == instance["runs"]["tag_concurrency_limits"]
    assert (concurrency["pools"]["defaultLimit"], concurrency["pools"]["granularity"]) == (
        instance["pools"]["default_limit"],
        instance["pools"]["granularity"],
    )
    assert "config" not in chart_values["dagsterDaemon"]["runCoordinator"]  # Dagster refuses limits in both


def test_every_secret_is_documented_and_none_is_committed() -> None:
    chart_values = values()
    wanted: dict[str, set[str]] = {}
    optional: set[str] = set()
    for obj in objects().values():
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            for e in container.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref.get("optional"):
                    optional.add(ref["key"])
                elif ref:
                    wanted.setdefault(ref["name"], set()).add(ref["key"])
    wanted.setdefault(chart_values["global"]["postgresqlSecretName"], set()).add("postgresql-password")
    named = [s["name"] for s in chart_values["dagster-user-deployments"]["deployments"][0]["envSecrets"]]
    named += [s["name"] for s in chart_values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]]
    named += [s["name"] for s in chart_values["dagsterWebserver"]["envSecrets"]]
    named += [s["name"] for s in chart_values["dagsterDaemon"]["envSecrets"]]
    for name in named:
        wanted.setdefault(name, set())
    scaling = (PROJECT / "docs" / "scaling.md").read_text(encoding="utf-8")
    for secret, keys in wanted.items():
        command = re.search(
            rf"kubectl (?:-n \S+ )?create secret generic {re.escape(secret)}\b(.*?)(?:\n\n|```)",
            scaling,
            re.S,
        )
        assert command, f"docs/scaling.md: no `kubectl create secret generic {secret}`"
        documented = set(re.findall(r"--from-literal=([A-Za-z0-9_.-]+)=", command.group(1)))
        assert keys <= documented, f"{secret}: document {sorted(keys - documented)}"
    assert optional and all(f"--from-literal={key}=" in scaling for key in optional)
    text = "\n".join(p.read_text(encoding="utf-8") for p in DEPLOY.glob("*.yaml"))
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text)  # no credentials inside URLs
    assert not re.search(
        r"(?i)(password|secret[_-]?key|access[_-]?key)\s*:\s*\S", text.replace("postgresqlSecretName", "")
    )

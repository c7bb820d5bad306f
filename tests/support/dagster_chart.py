"""The parts of the Dagster Helm chart's values structure that deploy/kubernetes/dagster-values.yaml uses,
as a JSON Schema written for Atlas' tests (the chart's own files are not copied into this repository).

Derived by reading, in github.com/dagster-io/dagster (Apache-2.0):
- ``helm/dagster/values.schema.json`` at commit bdb8547fab497826eeec292bc160b549a0a329ef (generated from
  the chart's pydantic models): top-level keys, ``dagster-user-deployments`` / ``UserDeployment``,
  ``PostgreSQL``, ``Global``, ``RunLauncher`` / ``K8sRunLauncherConfig`` / ``RunK8sConfig``,
  ``ComputeLogManager`` / ``S3ComputeLogManager``, ``Webserver``, ``Daemon``, ``RunCoordinator``,
  ``Telemetry``;
- ``helm/dagster/schema/schema/charts/dagster/subschema/concurrency.py`` and ``.../dagster/values.py`` at
  commit 0f2d9d8ee1755dff289e167e49167d87f4977a9f: the ``concurrency`` section, newer than that schema.

Differences on purpose: every object here forbids keys it does not list (the chart's schema allows extra
keys in some objects, e.g. at the top level and in ``UserDeployment``), so a misspelt key fails instead
of being ignored by Helm; only the keys Atlas sets or that neighbour them are listed. Kubernetes types
(resources, security contexts, probes, env sources) are checked against the Kubernetes OpenAPI
definitions bundled with kubernetes-validate (strict), where the chart points at kubernetesjsonschema.dev.
The chart version these were read at is not pinned to the 1.13.27 release: see docs/scaling.md.
"""

from __future__ import annotations

from typing import Any

# $id of the definitions kubernetes-validate bundles
K8S = "https://kubernetes.io/api/_definitions.json#/$defs/"


def k8s(name: str) -> dict[str, str]:
    return {"$ref": f"{K8S}{name}"}


def closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
INTEGER = {"type": "integer"}
OPTIONAL_STRING = {"type": ["string", "null"]}
PULL_POLICY = {"enum": ["Always", "IfNotPresent", "Never"]}
IMAGE = closed(
    {"repository": STRING, "tag": {"type": ["string", "integer", "null"]}, "pullPolicy": PULL_POLICY},
    ["repository", "pullPolicy"],
)
STRING_MAP = {"type": "object", "additionalProperties": STRING}
ENV = {"anyOf": [STRING_MAP, {"type": "array", "items": k8s("io.k8s.api.core.v1.EnvVar")}]}
CONFIG_MAPS = {"type": "array", "items": k8s("io.k8s.api.core.v1.ConfigMapEnvSource")}
SECRETS = {"type": "array", "items": k8s("io.k8s.api.core.v1.SecretEnvSource")}
POD_SECURITY = k8s("io.k8s.api.core.v1.PodSecurityContext")
SECURITY = k8s("io.k8s.api.core.v1.SecurityContext")
RESOURCES = k8s("io.k8s.api.core.v1.ResourceRequirements")
PROBE = k8s("io.k8s.api.core.v1.Probe")
# What the webserver's and the daemon's pods share: security contexts, resources and probes.
POD_RUNTIME = {
    "podSecurityContext": POD_SECURITY,
    "securityContext": SECURITY,
    "resources": RESOURCES,
    "readinessProbe": PROBE,
    "livenessProbe": PROBE,
    "startupProbe": PROBE,
}
SOURCE_OR_STRING = {"anyOf": [STRING, closed({"env": STRING}, ["env"]), {"type": "null"}]}

USER_DEPLOYMENT = closed(
    {
        "name": STRING,
        "image": IMAGE,
        "dagsterApiGrpcArgs": {"type": "array", "items": STRING},
        "codeServerArgs": {"type": "array", "items": STRING},
        "includeConfigInLaunchedRuns": closed({"enabled": BOOLEAN}, ["enabled"]),
        "deploymentNamespace": STRING,
        "port": INTEGER,
        "env": ENV,
        "envConfigMaps": CONFIG_MAPS,
        "envSecrets": SECRETS,
        "annotations": STRING_MAP,
        "labels": STRING_MAP,
        "nodeSelector": STRING_MAP,
        "affinity": k8s("io.k8s.api.core.v1.Affinity"),
        "tolerations": {"type": "array", "items": k8s("io.k8s.api.core.v1.Toleration")},
        "podSecurityContext": POD_SECURITY,
        "securityContext": SECURITY,
        "resources": RESOURCES,
        "livenessProbe": PROBE,
        "readinessProbe": PROBE,
        "startupProbe": PROBE,
        "volumeMounts": {"type": "array", "items": k8s("io.k8s.api.core.v1.VolumeMount")},
        "volumes": {"type": "array", "items": k8s("io.k8s.api.core.v1.Volume")},
        "schedulerName": STRING,
    },
    ["name", "image", "port"],
)

K8S_RUN_LAUNCHER = closed(
    {
        "image": {"anyOf": [IMAGE, {"type": "null"}]},
        "imagePullPolicy": PULL_POLICY,
        "jobNamespace": OPTIONAL_STRING,
        "loadInclusterConfig": BOOLEAN,
        "kubeconfigFile": OPTIONAL_STRING,
        "envConfigMaps": CONFIG_MAPS,
        "envSecrets": SECRETS,
        "envVars": {"type": "array", "items": STRING},
        "volumeMounts": {"type": "array", "items": k8s("io.k8s.api.core.v1.VolumeMount")},
        "volumes": {"type": "array", "items": k8s("io.k8s.api.core.v1.Volume")},
        "labels": {"anyOf": [STRING_MAP, {"type": "null"}]},
        "failPodOnRunFailure": {"type": ["boolean", "null"]},
        "resources": {"anyOf": [RESOURCES, {"type": "null"}]},
        "schedulerName": OPTIONAL_STRING,
        "securityContext": {"anyOf": [SECURITY, {"type": "null"}]},
        "runK8sConfig": closed(
            {
                # Free-form in the chart (dicts handed to dagster-k8s); checked as Kubernetes types by the
                # test.
                "containerConfig": {"type": "object"},
                "podSpecConfig": {"type": "object"},
                "podTemplateSpecMetadata": {"type": "object"},
                "jobSpecConfig": {"type": "object"},
                "jobMetadata": {"type": "object"},
            }
        ),
    },
    [
        "imagePullPolicy",
        "loadInclusterConfig",
        "envConfigMaps",
        "envSecrets",
        "envVars",
        "volumeMounts",
        "volumes",
    ],
)

TAG_LIMIT = closed(
    {
        "key": STRING,
        "value": {
            "anyOf": [
                STRING,
                closed({"applyLimitPerUniqueValue": BOOLEAN}, ["applyLimitPerUniqueValue"]),
                {"type": "null"},
            ]
        },
        "limit": INTEGER,
    },
    ["key", "limit"],
)

VALUES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    **closed(
        {
            "global": closed(
                {
                    "postgresqlSecretName": STRING,
                    "dagsterHome": STRING,
                    "serviceAccountName": STRING,
                    "celeryConfigSecretName": STRING,
                }
            ),
            "dagster-user-deployments": closed(
                {
                    "enabled": BOOLEAN,
                    "enableSubchart": BOOLEAN,
                    "imagePullSecrets": {
                        "type": "array",
                        "items": k8s("io.k8s.api.core.v1.LocalObjectReference"),
                    },
                    "deployments": {"type": "array", "minItems": 1, "items": USER_DEPLOYMENT},
                }
            ),
            "postgresql": closed(
                {
                    "enabled": BOOLEAN,
                    "postgresqlHost": STRING,
                    "postgresqlUsername": STRING,
                    "postgresqlPassword": STRING,
                    "postgresqlDatabase": STRING,
                    "postgresqlParams": {"type": "object"},
                    "postgresqlScheme": STRING,
                    "service": closed({"port": INTEGER}, ["port"]),
                    "image": IMAGE,
                }
            ),
            "generatePostgresqlPasswordSecret": BOOLEAN,
            "generateCeleryConfigSecret": BOOLEAN,
            "rabbitmq": {"type": "object", "properties": {"enabled": BOOLEAN}},
            "redis": {"type": "object", "properties": {"enabled": BOOLEAN}},
            "flower": {"type": "object", "properties": {"enabled": BOOLEAN}},
            "ingress": {"type": "object", "properties": {"enabled": BOOLEAN}},
            "imagePullSecrets": {"type": "array", "items": k8s("io.k8s.api.core.v1.LocalObjectReference")},
            "runLauncher": {
                **closed(
                    {
                        "type": {"enum": ["CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"]},
                        "config": closed(
                            {
                                "k8sRunLauncher": K8S_RUN_LAUNCHER,
                                "celeryK8sRunLauncher": {"type": "object"},
                                "customRunLauncher": {"type": "object"},
                            }
                        ),
                    },
                    ["type", "config"],
                ),
                "if": {"properties": {"type": {"const": "K8sRunLauncher"}}},
                "then": {"properties": {"config": {"required": ["k8sRunLauncher"]}}},
            },
            "computeLogManager": {
                **closed(
                    {
                        "type": {
                            "enum": [
                                "NoOpComputeLogManager",
                                "AzureBlobComputeLogManager",
                                "GCSComputeLogManager",
                                "S3ComputeLogManager",
                                "CustomComputeLogManager",
                            ]
                        },
                        "config": closed(
                            {
                                "s3ComputeLogManager": closed(
                                    {
                                        "bucket": SOURCE_OR_STRING,
                                        "localDir": SOURCE_OR_STRING,
                                        "prefix": SOURCE_OR_STRING,
                                        "useSsl": {"type": ["boolean", "null"]},
                                        "verify": {"type": ["boolean", "null"]},
                                        "verifyCertPath": SOURCE_OR_STRING,
                                        "endpointUrl": SOURCE_OR_STRING,
                                        "skipEmptyFiles": {"type": ["boolean", "null"]},
                                        "uploadInterval": {"type": ["integer", "null"]},
                                        "uploadExtraArgs": {"type": ["object", "null"]},
                                        "showUrlOnly": {"type": ["boolean", "null"]},
                                        "region": SOURCE_OR_STRING,
                                    },
                                    ["bucket"],
                                )
                            }
                        ),
                    },
                    ["type", "config"],
                ),
                "if": {"properties": {"type": {"const": "S3ComputeLogManager"}}},
                "then": {"properties": {"config": {"required": ["s3ComputeLogManager"]}}},
            },
            "dagsterWebserver": closed(
                {
                    "replicaCount": INTEGER,
                    "image": IMAGE,
                    "env": ENV,
                    "envConfigMaps": CONFIG_MAPS,
                    "envSecrets": SECRETS,
                    "labels": STRING_MAP,
                    "annotations": STRING_MAP,
                    "nodeSelector": STRING_MAP,
                    **POD_RUNTIME,
                    "enableReadOnly": BOOLEAN,
                    "logLevel": OPTIONAL_STRING,
                    "pathPrefix": OPTIONAL_STRING,
                }
            ),
            "dagsterDaemon": closed(
                {
                    "enabled": BOOLEAN,
                    "image": IMAGE,
                    "heartbeatTolerance": INTEGER,
                    "env": ENV,
                    "envConfigMaps": CONFIG_MAPS,
                    "envSecrets": SECRETS,
                    "labels": STRING_MAP,
                    "annotations": STRING_MAP,
                    **POD_RUNTIME,
                    "runCoordinator": closed(
                        {
                            "enabled": BOOLEAN,
                            "type": {"enum": ["QueuedRunCoordinator", "CustomRunCoordinator"]},
                            "config": {"type": "object"},
                        },
                        ["enabled", "type"],
                    ),
                    "runMonitoring": {"type": "object"},
                    "runRetries": {"type": "object"},
                }
            ),
            "telemetry": closed({"enabled": BOOLEAN}, ["enabled"]),
            "concurrency": closed(
                {
                    "enabled": BOOLEAN,
                    "pools": closed(
                        {
                            "defaultLimit": {"type": ["integer", "null"]},
                            "granularity": {"enum": ["run", "op", None]},
                            "opGranularityRunBuffer": {"type": ["integer", "null"]},
                        }
                    ),
                    "runs": closed(
                        {
                            "maxConcurrentRuns": {"type": ["integer", "null"]},
                            "tagConcurrencyLimits": {"type": "array", "items": TAG_LIMIT},
                        }
                    ),
                }
            ),
            "additionalInstanceConfig": {"type": ["object", "null"]},
        }
    ),
}
"""Keys of the chart's values not listed here (scheduler, pythonLogs, busybox, migrate, serviceAccount,
retention) keep the chart's defaults; listing them in the values file fails the test until they are added."""

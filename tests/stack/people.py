"""Simulated people and the facts the scale-out tests observe (all through nginx, plus
PostgreSQL's own view of who holds which lock).

Each person has their own client address (X-Forwarded-For, trusted from 127.0.0.1 by the
test nginx and the apps, as a load balancer's would be) and their own cookie jar; the CSRF
double-submit cookie `wattsup_csrf` is echoed in `X-CSRF-Token` on state-changing requests."""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path

import httpx
import pytest

_addresses = itertools.count(1)
PASSWORD = "correct horse battery staple 42"
ALL_CONNECTORS = ["ef", "type_2", "combo_ccs", "chademo", "autre"]


def new_address() -> str:
    n = next(_addresses)
    return f"10.87.{n // 250}.{n % 250 + 1}"


def _csrf(request: httpx.Request, jar: httpx.Cookies) -> None:
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        token = jar.get("wattsup_csrf")
        if token:
            request.headers["X-CSRF-Token"] = token


class Person:
    def __init__(self, base_url: str, address: str | None = None) -> None:
        self.address = address or new_address()
        self.email = f"stack-{secrets.token_hex(5)}@example.org"
        self.client = httpx.Client(
            base_url=base_url,
            headers={"X-Forwarded-For": self.address, "Origin": base_url},
            timeout=30,
        )
        self.client.event_hooks["request"] = [lambda r: _csrf(r, self.client.cookies)]
        self.vehicle_id: str | None = None

    def close(self) -> None:
        self.client.close()

    def register_and_login(self) -> None:
        r = self.client.post(
            "/api/auth/register",
            json={
                "email": self.email,
                "password": PASSWORD,
                "first_name": "Camille",
                "last_name": "Stack",
            },
        )
        assert r.is_success, r.text
        r = self.client.post("/api/auth/login", json={"email": self.email, "password": PASSWORD})
        assert r.is_success, r.text

    def add_vehicle(self) -> str:
        r = self.client.post(
            "/api/vehicles",
            json={
                "name": "Test car",
                "connectors": ALL_CONNECTORS,
                "battery_kwh": 60,
                "max_ac_kw": 22,
                "max_dc_kw": 150,
            },
        )
        assert r.is_success, r.text
        self.vehicle_id = str(r.json()["id"])
        return self.vehicle_id

    def book(self, charge_point_id: str) -> httpx.Response:
        return self.client.post(
            "/api/reservations",
            json={"charge_point_id": charge_point_id, "vehicle_id": self.vehicle_id},
        )


def api_paths(web: httpx.Client) -> set[str]:
    """Every route, as "METHOD /path", that the API processes serve (from their OpenAPI schema)."""
    doc = web.get("/api/schema/openapi.json").json()
    return {f"{m.upper()} {p}" for p, ops in doc.get("paths", {}).items() for m in ops}


def require(web: httpx.Client, *routes: str, issue: str) -> None:
    """Skip, naming what is missing, when a route another area builds has not landed yet."""
    have = api_paths(web)
    missing = [r for r in routes if r not in have]
    if missing:
        pytest.skip(f"not landed yet ({issue}): {', '.join(missing)}")


def tile_routes_landed(web: httpx.Client) -> bool:
    return web.get("/tiles/stations.json").status_code == 200


def socket_owner(client_port: int, pids: dict[str, int]) -> str | None:
    """Which of `pids` owns the TCP socket whose local port is `client_port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == client_port:
                inodes.add(fields[9])
    for name, pid in pids.items():
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return name
    return None

"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis), in process.

Every operation of the served schema gets a bounded, deterministic batch of generated
requests (valid and invalid data), as an anonymous caller, as a driver and as an admin. Two
promises are checked on every answer: never a 5xx, and every 4xx in the one error shape
(`application/problem+json` with `code` and `detail`). The run uses a database of its own
(`hard_settings`): the admin fuzzer creates stations and users there, not in the session's.

Tiles: absurd z/x/y and long filters are in tests/test_tiles.py::test_http_contract; what it
does not try (huge numbers, negative z, every filter at 10 kB) is at the bottom of this file.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from litestar import Litestar

from tests.fixtures_accounts import create_user
from wattsup.config import Settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.python import asgi  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]

# Examples per operation and generation mode (positive, negative), per role. Bounded so the
# three roles run in about a minute; derandomised, so a failure shows again run after run.
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}
# Fuzz requests come from their own client address: the per-IP rate limits they trip
# (password reset: 5 an hour) must not spill onto the other tests' address.
FUZZ_IP = {"anonymous": "198.51.100.10", "driver": "198.51.100.11", "admin": "198.51.100.12"}

# Operations not fuzzed for a role, and why. Nothing else is left out.
SKIPPED: dict[str, dict[tuple[str, str], str]] = {
    "anonymous": {},
    "driver": {
        # Ends every session of the fuzzing user (token_version + 1): every later case would
        # run as anonymous. Anonymous fuzzing covers the route (401).
        ("POST", "/api/auth/logout-all"): "ends the fuzzing session",
        # Deletes the fuzzing user's account, same reason.
        ("DELETE", "/api/me"): "deletes the fuzzing account",
    },
    "admin": {
        ("POST", "/api/auth/logout-all"): "ends the fuzzing session",
        ("DELETE", "/api/me"): "deletes the fuzzing account",
    },
}
# `logout` is fuzzed for every role: it revokes the refresh token sent with the case (none
# here) and clears cookies in the answer, which the fuzzer does not keep between cases.


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.by_status: collections.Counter[int] = collections.Counter()
        self.server_errors: list[str] = []
        self.bad_shape: list[str] = []
        self.no_negative: list[str] = []
        self.nonconforming: list[str] = []

    def record(self, role: str, case: Any, response: Any) -> None:
        self.cases += 1
        status = response.status_code
        self.by_status[status] += 1
        label = f"[{role}] {case.method} {case.path} -> {status}"
        if status >= 500:
            self.server_errors.append(
                f"{label}\n    {case.as_curl_command()}\n    {response.text[:300]}"
            )
        elif status >= 400:
            problem = _problem_shape_error(response)
            if problem:
                self.bad_shape.append(f"{label}: {problem}\n    {case.as_curl_command()}")


def _problem_shape_error(response: Any) -> str | None:
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/problem+json"):
        return f"content-type {content_type!r}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return "body is not JSON"
    if not isinstance(body, dict):
        return "body is not an object"
    for member in ("code", "detail"):
        if not isinstance(body.get(member), str) or not body[member]:
            return f"no {member!r} member"
    if body.get("status") != response.status_code:
        return f"status member {body.get('status')!r}"
    return None


@pytest.fixture(scope="module")
def fuzz_app(hard_settings: Settings) -> Iterator[Litestar]:
    from api.app import create_app

    app = create_app(hard_settings)
    yield app
    # schemathesis starts the app's lifespan (pool, Redis, sweeper) on its first request, in
    # its own event-loop thread; stop it here rather than at interpreter exit.
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
async def fuzz_accounts(hard_settings: Settings, hard_pool: Any) -> dict[str, dict[str, Any]]:
    return {
        "driver": await create_user(hard_pool, role="driver"),
        "admin": await create_user(hard_pool, role="admin"),
    }


def _sign_in(app: Litestar, role: str, accounts: dict[str, dict[str, Any]]) -> tuple[dict, dict]:
    """Cookies and headers a browser of this role sends: the session cookies from a real
    login, and the CSRF cookie echoed in X-CSRF-Token."""
    headers = {"X-Real-IP": FUZZ_IP[role]}
    if role == "anonymous":
        return {}, headers
    user = accounts[role]
    with asgi.get_client(app) as client:
        r = client.post(
            "/api/auth/login",
            json={"email": user["email"], "password": user["password"]},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        cookies = {c.name: c.value for c in client.cookies}
    assert {"wattsup_access", "wattsup_csrf"} <= cookies.keys()
    # The refresh cookie is scoped to /api/auth; sending it everywhere is harmless but a
    # browser would not, and /api/auth/refresh would rotate it under the fuzzer's feet.
    cookies.pop("wattsup_refresh", None)
    return cookies, {**headers, "X-CSRF-Token": cookies["wattsup_csrf"]}


def _fuzz(app: Litestar, role: str, accounts: dict[str, dict[str, Any]]) -> Tally:
    cookies, headers = _sign_in(app, role, accounts)
    schema = schemathesis.openapi.from_dict(app.openapi_schema.to_schema())
    schema.app = app
    tally = Tally()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 60, "the fuzzer must see the whole API"
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED[role]:
            continue
        for mode, examples in EXAMPLES.items():

            @hypothesis_settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                response = case.call(headers=dict(headers), cookies=dict(cookies))
                tally.record(role, case, response)
                try:
                    case.validate_response(response, checks=CONFORMANCE)
                except (Exception, BaseExceptionGroup) as exc:
                    tally.nonconforming.append(
                        f"[{role}] {case.method} {case.path} -> {response.status_code}: "
                        + " | ".join(str(exc).splitlines()[:12])[:600]
                    )

            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, no body): the positive run covered it.
                assert mode is GenerationMode.NEGATIVE, operation.label
                tally.no_negative.append(operation.label)
    return tally


def _report(role: str, tally: Tally) -> None:
    statuses = dict(sorted(tally.by_status.items()))
    print(f"\nschemathesis [{role}]: {tally.cases} cases, statuses {statuses}")
    for line in tally.server_errors + tally.bad_shape + sorted(set(tally.nonconforming)):
        print("  ", line)


ROLES = ("anonymous", "driver", "admin")


@pytest.fixture(scope="module")
def fuzz_results(fuzz_app: Litestar, fuzz_accounts: dict[str, dict[str, Any]]) -> dict[str, Tally]:
    """One fuzzing run per role, shared by the assertions below (about 950 cases a role)."""
    results = {}
    for role in ROLES:
        results[role] = _fuzz(fuzz_app, role, fuzz_accounts)
        _report(role, results[role])
    print(f"schemathesis total: {sum(t.cases for t in results.values())} cases")
    return results


@pytest.mark.parametrize("role", ROLES)
def test_fuzzed_api_never_answers_5xx_and_every_4xx_is_a_problem(
    fuzz_results: dict[str, Tally], role: str
) -> None:
    tally = fuzz_results[role]
    assert tally.cases >= 500, tally.cases
    assert not tally.server_errors, "\n".join(tally.server_errors)
    assert not tally.bad_shape, "\n".join(tally.bad_shape)
    if role != "anonymous":
        # The session held all along: the run was not silently an anonymous one.
        assert tally.by_status[401] < tally.cases / 4, tally.by_status


def test_fuzzed_responses_conform_to_the_openapi_document(fuzz_results: dict[str, Tally]) -> None:
    nonconforming = sorted({line for t in fuzz_results.values() for line in t.nonconforming})
    assert not nonconforming, "\n".join(nonconforming)


# ------------------------------------------------------------------------- U+0000 in text

NUL = "a\u0000b"
NUL_CASES = [
    ("GET", "/api/search?q=a%00b", None),
    (
        "POST",
        "/api/auth/register",
        {
            "email": f"x{NUL}@example.org",
            "password": "une phrase assez longue",
            "first_name": "A",
            "last_name": "B",
        },
    ),
    (
        "POST",
        "/api/auth/register",
        {
            "email": "nul-name@example.org",
            "password": "une phrase assez longue",
            "first_name": NUL,
            "last_name": "B",
        },
    ),
    (
        "POST",
        "/api/auth/login",
        {"email": f"x{NUL}@example.org", "password": "une phrase assez longue"},
    ),
    ("POST", "/api/auth/password-reset", {"email": f"x{NUL}@example.org"}),
    ("POST", "/api/vehicles", {"name": NUL, "connectors": ["type_2"]}),
    ("PATCH", "/api/me", {"first_name": NUL}),
    ("POST", "/api/me/filter-profiles", {"name": NUL, "filters": {}}),
]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [pytest.param(*case, id=f"{i}-{case[0]} {case[1][:24]}") for i, case in enumerate(NUL_CASES)],
)
async def test_nul_character_in_text_is_refused_with_a_400(
    hard_settings: Settings, hard_pool: Any, method: str, url: str, body: Any
) -> None:
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from tests.fixtures_accounts import sign_in

    user = await create_user(hard_pool)
    async with AsyncTestClient(app=create_app(hard_settings)) as client:
        await sign_in(client, user["email"], user["password"])
        client.headers["X-Real-IP"] = "198.51.100.20"
        r = await client.request(method, url, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")


# --------------------------------------------------------------------------------- tiles

# Not in tests/test_tiles.py::test_http_contract (which has z=21, x=2^z, x=-1, .png and a
# 10 kB min_power): absurd sizes in every position and every filter at 10 kB.
ABSURD_TILES = [
    "/tiles/stations/99/0/0.pbf",
    "/tiles/stations/-1/0/0.pbf",
    "/tiles/stations/99999999999999999999999/0/0.pbf",
    "/tiles/stations/3/99999999999999999999999/0.pbf",
    "/tiles/stations/3/0/99999999999999999999.pbf",
    "/tiles/stations/3/0/8.pbf",
    "/tiles/stations/3/0/-5.pbf",
    "/tiles/stations/3/0/0%00.pbf",
    "/tiles/stations/3/0/0.pbf?connectors=" + "type_2," * 1500,
    "/tiles/stations/3/0/0.pbf?free=" + "t" * 10_000,
    "/tiles/stations/3/0/0.pbf?" + "x" * 10_000 + "=1",
    "/tiles/stations/3/0/0.pbf?min_power=nan",
    "/tiles/stations/3/0/0.pbf?min_power=inf",
    "/tiles/stations/3/0/0.pbf?min_power=1e308",
    "/tiles/stations/3/0/0.pbf?min_power=%00",
]


async def test_absurd_tile_addresses_and_filters_are_400_never_500(tile_client: Any) -> None:
    for url in ABSURD_TILES:
        r = await tile_client.get(url)
        assert r.status_code in (400, 404), (url[:80], r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json"), url[:80]
        assert r.json()["code"] and r.json()["detail"], url[:80]
        assert "public" not in r.headers.get("cache-control", ""), url[:80]
    for url in ("/tiles/stations.json", "/tiles/style.json"):
        r = await tile_client.get(url, params={"connectors": "a" * 10_000, "z": "9" * 10_000})
        assert r.status_code < 500, url

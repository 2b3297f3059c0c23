"""Accounts against real PostgreSQL and Redis: auth flows, cookies, CSRF, rate limits,
enumeration resistance, vehicles isolation, stations read API."""

from __future__ import annotations

import uuid

import asyncpg
import jwt
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from tests.fixtures_accounts import PASSWORD, create_user, sign_in


def new_email() -> str:
    return f"driver-{uuid.uuid4().hex[:10]}@example.org"


async def test_register_login_me_logout(api_client, pool) -> None:  # type: ignore[no-untyped-def]
    email = new_email()
    r = await api_client.post(
        "/api/auth/register",
        json={"email": email.upper(), "password": PASSWORD, "first_name": "Ada", "last_name": "L"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["email"] == email and r.json()["role"] == "driver"
    cookies = {c.name: c for c in api_client.cookies.jar}
    access = cookies["wattsup_access"]
    assert access.has_nonstandard_attr("HttpOnly")
    set_cookie = r.headers.get_list("set-cookie")
    assert any(
        "wattsup_access=" in h
        and "HttpOnly" in h
        and "SameSite=lax" in h.replace("SameSite=Lax", "SameSite=lax")
        for h in set_cookie
    )
    assert any("wattsup_csrf=" in h and "HttpOnly" not in h for h in set_cookie)
    stored = await pool.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert stored.startswith("$2") and PASSWORD not in stored
    assert (await api_client.get("/api/me")).json()["first_name"] == "Ada"
    api_client.headers["X-CSRF-Token"] = api_client.cookies["wattsup_csrf"]
    assert (await api_client.post("/api/auth/logout")).status_code == 200
    me = await api_client.get("/api/me")
    assert me.status_code == 401 and me.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("password", "needle"),
    [("short", "10 caractères"), ("motdepasse123", "courant"), ("aaaaaaaaaaaa", "simple")],
)
async def test_password_policy(api_client, password: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    r = await api_client.post(
        "/api/auth/register",
        json={"email": new_email(), "password": password, "first_name": "A", "last_name": "B"},
    )
    assert r.status_code == 422 and r.json()["code"] == "weak_password"
    assert needle in r.json()["detail"]


async def test_password_may_not_be_the_email(api_client) -> None:  # type: ignore[no-untyped-def]
    email = new_email()
    r = await api_client.post(
        "/api/auth/register",
        json={"email": email, "password": email, "first_name": "A", "last_name": "B"},
    )
    assert r.status_code == 422 and "e-mail" in r.json()["detail"]


async def test_duplicate_email_and_bad_body(api_client, pool) -> None:  # type: ignore[no-untyped-def]
    user = await create_user(pool)
    r = await api_client.post(
        "/api/auth/register",
        json={"email": user["email"], "password": PASSWORD, "first_name": "A", "last_name": "B"},
    )
    assert r.status_code == 409 and r.json()["code"] == "email_taken"
    r = await api_client.post("/api/auth/register", json={"email": 3})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"email": 5}, "Champ « email » invalide : un texte attendu."),
        ({"email": "a"}, "Champ « email » invalide : au moins 3 caractères."),
        (
            {"email": "a@b.fr", "password": "x" * 12, "first_name": "A" * 81, "last_name": "B"},
            "Champ « first_name » invalide : au plus 80 caractères.",
        ),
        (
            {"email": "a@b.fr", "password": "x" * 12, "first_name": "A", "last_name": "B", "zz": 1},
            "Requête invalide : champ « zz » inconnu.",
        ),
    ],
)
async def test_validation_errors_speak_french(api_client, body, detail) -> None:  # type: ignore[no-untyped-def]
    """msgspec's messages reach the page in French; tools keep the original."""
    r = await api_client.post("/api/auth/register", json=body)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["code"] == "invalid_request" and problem["detail"] == detail
    assert problem["errors"][0]["message_en"].startswith("Object") or problem["errors"][0][
        "message_en"
    ].startswith("Expected")


async def test_no_user_enumeration(api_client, pool) -> None:  # type: ignore[no-untyped-def]
    user = await create_user(pool)
    wrong_pw = await api_client.post(
        "/api/auth/login", json={"email": user["email"], "password": "not the password at all"}
    )
    no_user = await api_client.post(
        "/api/auth/login", json={"email": new_email(), "password": "not the password at all"}
    )
    assert wrong_pw.status_code == no_user.status_code == 401
    assert wrong_pw.json()["detail"] == no_user.json()["detail"]
    assert wrong_pw.json()["code"] == no_user.json()["code"] == "invalid_credentials"


async def test_csrf_is_required_on_state_changing_requests(api_client, pool) -> None:  # type: ignore[no-untyped-def]
    user = await create_user(pool)
    r = await api_client.post(
        "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
    )
    assert r.status_code == 200
    no_header = await api_client.post(
        "/api/vehicles", json={"name": "Zoé", "connectors": ["type_2"]}
    )
    assert no_header.status_code == 403 and no_header.json()["code"] == "csrf_failed"
    api_client.headers["X-CSRF-Token"] = "forged"
    forged = await api_client.post("/api/vehicles", json={"name": "Zoé", "connectors": ["type_2"]})
    assert forged.status_code == 403
    api_client.headers["X-CSRF-Token"] = api_client.cookies["wattsup_csrf"]
    ok = await api_client.post("/api/vehicles", json={"name": "Zoé", "connectors": ["type_2"]})
    assert ok.status_code == 201


async def test_tampered_and_foreign_tokens_are_refused(api_client, pool, settings) -> None:  # type: ignore[no-untyped-def]
    user = await create_user(pool)
    await sign_in(api_client, user["email"], PASSWORD)
    token = api_client.cookies["wattsup_access"]
    claims = jwt.decode(token, options={"verify_signature": False})
    for bad in (
        jwt.encode(claims, "another secret", algorithm="HS256"),
        jwt.encode({**claims, "role": "admin"}, "wrong", algorithm="HS256"),
        jwt.encode({**claims, "exp": 1}, settings.secret_key, algorithm="HS256"),
        token[:-4] + "abcd",
        ".".join([token.split(".")[0].replace("HS256", "none"), token.split(".")[1], ""]),
    ):
        api_client.cookies.set("wattsup_access", bad)
        assert (await api_client.get("/api/me")).status_code == 401


async def test_a_token_already_verified_still_expires_on_time(  # type: ignore[no-untyped-def]
    api_client, pool, monkeypatch
) -> None:
    """api/security.py remembers verified tokens; a remembered one is refused past its exp
    all the same, and a token signed with another key is not taken for the remembered one."""
    from api import security

    user = await create_user(pool)
    await sign_in(api_client, user["email"], PASSWORD)
    token = api_client.cookies["wattsup_access"]
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert (await api_client.get("/api/me")).status_code == 200  # verified, remembered
    assert any(t == token for _, t in security._VERIFIED)
    monkeypatch.setattr(security, "_now", lambda: exp - 1.0)
    assert (await api_client.get("/api/me")).status_code == 200
    other_key = msgspec.structs.replace(api_client.app.state.settings, secret_key="k" * 40)
    monkeypatch.setattr(api_client.app.state, "settings", other_key)
    assert (await api_client.get("/api/me")).status_code == 401  # not the remembered one
    monkeypatch.undo()
    monkeypatch.setattr(security, "_now", lambda: float(exp))
    assert (await api_client.get("/api/me")).status_code == 401


async def test_disabling_a_user_cuts_their_session_at_once(driver_client, pool) -> None:  # type: ignore[no-untyped-def]
    assert (await driver_client.get("/api/me")).status_code == 200
    await pool.execute(
        "UPDATE users SET disabled_at = now() WHERE id = $1", driver_client.user["id"]
    )
    assert (await driver_client.get("/api/me")).status_code == 401
    r = await driver_client.post("/api/auth/refresh")
    assert r.status_code == 401


async def test_refresh_rotates_and_logout_everywhere_revokes(settings, pool) -> None:  # type: ignore[no-untyped-def]
    from api.app import create_app

    user = await create_user(pool)
    async with (
        AsyncTestClient(app=create_app(settings)) as a,
        AsyncTestClient(app=create_app(settings)) as b,
    ):
        await sign_in(a, user["email"], PASSWORD)
        await sign_in(b, user["email"], PASSWORD)
        old_refresh = a.cookies["wattsup_refresh"]
        r = await a.post("/api/auth/refresh")
        assert r.status_code == 200
        assert a.cookies["wattsup_refresh"] != old_refresh
        a.headers["X-CSRF-Token"] = a.cookies["wattsup_csrf"]
        assert (await a.post("/api/auth/logout-all")).status_code == 200
        assert (await b.get("/api/me")).status_code == 401, "the other device is logged out"
        assert (await b.post("/api/auth/refresh")).status_code == 401


async def test_password_reset_is_single_use(api_client, pool) -> None:  # type: ignore[no-untyped-def]
    user = await create_user(pool)
    r = await api_client.post("/api/auth/password-reset", json={"email": user["email"]})
    unknown = await api_client.post("/api/auth/password-reset", json={"email": new_email()})
    assert r.json() == unknown.json(), "same answer whether the account exists or not"
    body = await pool.fetchval(
        "SELECT body FROM email_outbox WHERE to_address = $1 ORDER BY id DESC LIMIT 1",
        user["email"],
    )
    token = body.split("token=")[1].split(" ")[0]
    new_password = "une toute nouvelle phrase"
    ok = await api_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": new_password}
    )
    assert ok.status_code == 200
    again = await api_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": new_password}
    )
    assert again.status_code == 400 and again.json()["code"] == "invalid_token"
    await sign_in(api_client, user["email"], new_password)


async def test_login_rate_limit_holds_across_two_app_instances(settings, pool) -> None:  # type: ignore[no-untyped-def]
    from api.app import create_app

    user = await create_user(pool)
    statuses = []
    async with (
        AsyncTestClient(app=create_app(settings)) as one,
        AsyncTestClient(app=create_app(settings)) as two,
    ):
        for i in range(10):
            client = one if i % 2 else two
            r = await client.post(
                "/api/auth/login", json={"email": user["email"], "password": f"wrong password {i}"}
            )
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) > 0
                assert r.json()["code"] == "rate_limited"
    assert statuses[:8] == [401] * 8 and statuses[8:] == [429, 429]


async def test_only_failed_logins_count_against_an_account(settings, pool) -> None:  # type: ignore[no-untyped-def]
    """A driver signing in on a dozen devices in a few minutes is not locked out; the same
    number of wrong passwords is."""
    from api.app import create_app

    user = await create_user(pool)
    async with AsyncTestClient(app=create_app(settings)) as client:
        for _ in range(12):
            client.cookies.clear()  # a new device each time
            r = await client.post(
                "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
        client.cookies.clear()
        codes = [
            (
                await client.post(
                    "/api/auth/login", json={"email": user["email"], "password": "wrong one"}
                )
            ).status_code
            for _ in range(9)
        ]
    assert codes == [401] * 8 + [429]


async def test_vehicles_are_private(settings, pool) -> None:  # type: ignore[no-untyped-def]
    from api.app import create_app

    a_user, b_user = await create_user(pool), await create_user(pool)
    async with (
        AsyncTestClient(app=create_app(settings)) as a,
        AsyncTestClient(app=create_app(settings)) as b,
    ):
        await sign_in(a, a_user["email"], PASSWORD)
        await sign_in(b, b_user["email"], PASSWORD)
        r = await a.post(
            "/api/vehicles",
            json={
                "name": "Mégane",
                "plate": "ab 123 cd",
                "connectors": ["type_2", "combo_ccs"],
                "battery_kwh": 60,
                "max_ac_kw": 22,
                "max_dc_kw": 130,
            },
        )
        assert r.status_code == 201, r.text
        v = r.json()
        assert v["plate"] == "AB-123-CD"
        for call in (
            b.get(f"/api/vehicles/{v['id']}"),
            b.patch(f"/api/vehicles/{v['id']}", json={"name": "mine"}),
            b.delete(f"/api/vehicles/{v['id']}"),
        ):
            resp = await call
            assert resp.status_code == 404 and resp.json()["code"] == "vehicle_not_found"
        assert (await b.get("/api/vehicles")).json() == []
        bad = await a.post(
            "/api/vehicles", json={"name": "X", "plate": "123", "connectors": ["type_2"]}
        )
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_plate"
        bad = await a.post("/api/vehicles", json={"name": "X", "connectors": ["tesla"]})
        assert bad.status_code == 400
        # A battery below 1 kWh (the fuzzing sent 5e-324) is refused by the API and the base.
        for tiny in (5e-324, 0.5):
            bad = await a.post(
                "/api/vehicles", json={"name": "X", "connectors": ["type_2"], "battery_kwh": tiny}
            )
            assert bad.status_code == 400 and bad.json()["code"] == "invalid_request", bad.text
        bad = await a.patch(f"/api/vehicles/{v['id']}", json={"battery_kwh": 0.5})
        assert bad.status_code == 400
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute("UPDATE vehicles SET battery_kwh = 0.5 WHERE id = $1", v["id"])
        upd = await a.patch(f"/api/vehicles/{v['id']}", json={"max_dc_kw": 50})
        assert upd.json()["max_dc_kw"] == 50 and upd.json()["name"] == "Mégane"
        assert (await a.delete(f"/api/vehicles/{v['id']}")).status_code == 204


async def test_export_and_delete_my_account(driver_client, pool) -> None:  # type: ignore[no-untyped-def]
    await driver_client.post("/api/vehicles", json={"name": "Zoé", "connectors": ["type_2"]})
    export = await driver_client.get("/api/me/export")
    assert export.status_code == 200
    assert export.json()["profile"]["email"] == driver_client.user["email"]
    assert export.json()["vehicles"][0]["name"] == "Zoé"
    assert (await driver_client.delete("/api/me")).status_code == 200
    row = await pool.fetchrow(
        "SELECT email, first_name, deleted_at FROM users WHERE id = $1", driver_client.user["id"]
    )
    assert row["email"].startswith("deleted-") and row["first_name"] is None
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM vehicles WHERE user_id = $1", driver_client.user["id"]
        )
        == 0
    )


@pytest.mark.usefixtures("imported_sample")
async def test_station_sheet_aggregates_points(api_client, pool) -> None:  # type: ignore[no-untyped-def]
    sid = await pool.fetchval(
        "SELECT station_id FROM charge_points GROUP BY station_id HAVING count(*) >= 4 LIMIT 1"
    )
    r = await api_client.get(f"/api/stations/{sid}")
    assert r.status_code == 200
    body = r.json()
    assert sum(g["total"] for g in body["groups"]) == len(body["points"]) >= 4
    assert all(" kW · " in g["label"] and "/" in g["label"] for g in body["groups"])
    assert (await api_client.get(f"/api/stations/{uuid.uuid4()}")).status_code == 404


@pytest.mark.usefixtures("imported_sample")
async def test_search_is_accent_insensitive_and_typo_tolerant(api_client) -> None:  # type: ignore[no-untyped-def]
    for q in ("Istres", "istres", "Itsres", "ISTRÉS"):
        hits = (await api_client.get("/api/search", params={"q": q})).json()
        assert any(h["label"] == "Istres" for h in hits), q
    assert (await api_client.get("/api/search", params={"q": "x"})).status_code == 400
    view = await api_client.get("/api/stations", params={"bbox": "4.9,43.4,5.1,43.6"})
    assert view.status_code == 200 and len(view.json()) >= 3
    assert (await api_client.get("/api/stations", params={"bbox": "a,b"})).status_code == 400

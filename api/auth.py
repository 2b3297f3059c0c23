"""/api/auth: register, log in and out, refresh, password reset."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.rate_limit import client_ip, hit, refund
from api.schemas.accounts import (
    LoginIn,
    Message,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RegisterIn,
    UserRead,
)
from api.security import (
    REFRESH_COOKIE,
    CurrentUser,
    check_password,
    clear_cookies,
    hash_password,
    make_access_token,
    session_cookies,
    token_digest,
)
from wattsup.config import Settings
from wattsup.problems import Problem

log = logging.getLogger("wattsup.auth")

COMMON_PASSWORDS = frozenset(
    {
        "motdepasse",
        "motdepasse1",
        "password",
        "password1",
        "password123",
        "1234567890",
        "azertyuiop",
        "qwertyuiop",
        "0123456789",
        "iloveyou12",
        "soleil1234",
        "bonjour123",
        "azerty1234",
        "football12",
        "motdepasse123",
        "administrateur",
        "wattsup123",
        "voiture123",
        "chargeur123",
        "1111111111",
        "0000000000",
        "abcdefghij",
    }
)
RESET_TTL = timedelta(hours=1)
INVITATION_TTL = timedelta(days=7)  # an account an admin opens: its owner sets the password
LOGIN_LIMIT_PER_ACCOUNT, LOGIN_WINDOW = 8, 300
REGISTER_WINDOW = 3600
RESET_LIMIT, RESET_WINDOW = 5, 3600


def new_account_email(raw: str) -> str:
    """The email of an account being opened (a driver's sign-up, an admin's invitation),
    folded as logins look it up; 422 `invalid_email`, marking the field, if it is not one."""
    email = raw.strip().lower()
    if "@" not in email or "." not in email.split("@")[-1]:
        raise Problem(
            422,
            "invalid_email",
            "Adresse e-mail invalide.",
            errors=[{"field": "email", "reason": "adresse e-mail invalide"}],
        )
    return email


def check_password_policy(password: str, email: str) -> None:
    if len(password) < 10:
        raise Problem(422, "weak_password", "Mot de passe trop court : 10 caractères au minimum.")
    low = password.lower()
    if low == email.lower() or low == email.split("@")[0].lower():
        raise Problem(
            422, "weak_password", "Le mot de passe ne doit pas être votre adresse e-mail."
        )
    if low in COMMON_PASSWORDS or len(set(low)) < 4:
        raise Problem(
            422,
            "weak_password",
            "Mot de passe trop courant ou trop simple : choisissez-en un autre.",
        )


async def open_session(
    conn: asyncpg.Connection,
    settings: Settings,
    user_id: UUID,
    role: str,
    version: int,
    user_agent: str | None,
) -> list[Any]:
    refresh = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO auth_sessions (user_id, token_hash, expires_at, user_agent) "
        "VALUES ($1, $2, now() + make_interval(days => $3), $4)",
        user_id,
        token_digest(refresh),
        settings.refresh_token_days,
        (user_agent or "")[:200],
    )
    return session_cookies(settings, make_access_token(settings, user_id, role, version), refresh)


def _user_read(row: asyncpg.Record) -> UserRead:
    return UserRead(
        id=row["id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        role=row["role"],
        created_at=row["created_at"],
    )


async def queue_password_link(
    conn: asyncpg.Connection, user_id: UUID, email: str, *, invitation: bool
) -> None:
    """A one-time link to choose a password (a password_resets token), mailed: a reset asked
    for by its owner (valid an hour), or the invitation of an account an admin opened (a
    week). There is no mail server here: the mail goes to the email_outbox table (and the
    log), where a mailer would pick it up."""
    token = secrets.token_urlsafe(32)
    ttl = INVITATION_TTL if invitation else RESET_TTL
    await conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        token_digest(token),
        user_id,
        datetime.now(UTC) + ttl,
    )
    if invitation:
        subject = "Watts Up : votre compte est ouvert"
        body = (
            f"Un compte Watts Up a été ouvert pour vous. Pour choisir votre mot de passe : "
            f"/#/reset?token={token} (valable 7 jours)."
        )
    else:
        subject = "Watts Up : réinitialisation du mot de passe"
        body = f"Pour choisir un nouveau mot de passe : /#/reset?token={token} (valable une heure)."
    await conn.execute(
        "INSERT INTO email_outbox (to_address, subject, body) VALUES ($1, $2, $3)",
        email,
        subject,
        body,
    )
    kind = "invitation" if invitation else "password reset"
    log.info("%s mail queued in email_outbox for user %s", kind, user_id)


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/register", status_code=HTTP_201_CREATED, summary="Create a driver account")
    async def register(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_connection: asyncpg.Connection,
        data: JSONBody[RegisterIn],
    ) -> Response[UserRead]:
        settings: Settings = state.settings
        await hit(
            request,
            f"register:ip:{client_ip(request)}",
            settings.rate_limit_register_ip,
            REGISTER_WINDOW,
        )
        email = new_account_email(data.email)
        check_password_policy(data.password, email)
        hashed = await asyncio.to_thread(hash_password, data.password, settings.bcrypt_rounds)
        try:
            row = await db_connection.fetchrow(
                "INSERT INTO users (email, password_hash, first_name, last_name) "
                "VALUES ($1, $2, $3, $4) RETURNING *",
                email,
                hashed,
                data.first_name.strip(),
                data.last_name.strip(),
            )
        except asyncpg.UniqueViolationError:
            raise Problem(
                409, "email_taken", "Un compte existe déjà avec cette adresse. Connectez-vous."
            ) from None
        assert row is not None
        cookies = await open_session(
            db_connection, settings, row["id"], row["role"], 0, request.headers.get("user-agent")
        )
        return Response(_user_read(row), status_code=HTTP_201_CREATED, cookies=cookies)

    @post("/login", status_code=HTTP_200_OK, summary="Log in (sets the session cookies)")
    async def login(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_connection: asyncpg.Connection,
        data: JSONBody[LoginIn],
    ) -> Response[UserRead]:
        settings: Settings = state.settings
        email = data.email.strip().lower()
        await hit(
            request, f"login:ip:{client_ip(request)}", settings.rate_limit_login_ip, LOGIN_WINDOW
        )
        account_bucket = f"login:acct:{token_digest(email)[:24]}"
        await hit(request, account_bucket, LOGIN_LIMIT_PER_ACCOUNT, LOGIN_WINDOW)
        row = await db_connection.fetchrow(
            "SELECT * FROM users WHERE email = $1 AND deleted_at IS NULL", email
        )
        # Same work and the same answer for an unknown email and a wrong password.
        ok = await asyncio.to_thread(
            check_password,
            data.password,
            row["password_hash"] if row else None,
            settings.bcrypt_rounds,
        )
        if row is None or not ok:
            raise Problem(401, "invalid_credentials", "Adresse e-mail ou mot de passe incorrect.")
        if row["disabled_at"] is not None:
            raise Problem(
                403, "account_disabled", "Ce compte est désactivé. Contactez le service client."
            )
        # The right password: this attempt does not count against the account (failures do).
        await refund(request, account_bucket)
        cookies = await open_session(
            db_connection,
            settings,
            row["id"],
            row["role"],
            row["token_version"],
            request.headers.get("user-agent"),
        )
        return Response(_user_read(row), cookies=cookies)

    @post("/refresh", status_code=HTTP_200_OK, summary="New access token from the refresh one")
    async def refresh(
        self, request: Request[Any, Any, Any], state: State, db_connection: asyncpg.Connection
    ) -> Response[Message]:
        settings: Settings = state.settings
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise Problem(401, "not_authenticated", "Session expirée : reconnectez-vous.")
        row = await db_connection.fetchrow(
            "UPDATE auth_sessions s SET revoked_at = now() FROM users u "
            "WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() "
            "AND u.id = s.user_id AND u.disabled_at IS NULL AND u.deleted_at IS NULL "
            "RETURNING u.id, u.role, u.token_version, s.user_agent",
            token_digest(token),
        )
        if row is None:
            raise Problem(401, "not_authenticated", "Session expirée : reconnectez-vous.")
        cookies = await open_session(
            db_connection, settings, row["id"], row["role"], row["token_version"], row["user_agent"]
        )
        return Response(Message(detail="Session prolongée."), cookies=cookies)

    @post("/logout", status_code=HTTP_200_OK, summary="Log out this session")
    async def logout(
        self, request: Request[Any, Any, Any], state: State, db_connection: asyncpg.Connection
    ) -> Response[Message]:
        token = request.cookies.get(REFRESH_COOKIE)
        if token:
            await db_connection.execute(
                "UPDATE auth_sessions SET revoked_at = now() WHERE token_hash = $1",
                token_digest(token),
            )
        return Response(Message(detail="Déconnecté."), cookies=clear_cookies(state.settings))

    @post("/logout-all", status_code=HTTP_200_OK, summary="Log out everywhere")
    async def logout_all(
        self, state: State, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> Response[Message]:
        await db_connection.execute(
            "UPDATE users SET token_version = token_version + 1 WHERE id = $1", current_user.id
        )
        await db_connection.execute(
            "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            current_user.id,
        )
        return Response(
            Message(detail="Déconnecté de tous les appareils."),
            cookies=clear_cookies(state.settings),
        )

    @post("/password-reset", status_code=HTTP_200_OK, summary="Ask for a reset link")
    async def password_reset(
        self,
        request: Request[Any, Any, Any],
        db_connection: asyncpg.Connection,
        data: JSONBody[PasswordResetIn],
    ) -> Message:
        email = data.email.strip().lower()
        await hit(request, f"reset:ip:{client_ip(request)}", RESET_LIMIT, RESET_WINDOW)
        await hit(request, f"reset:acct:{token_digest(email)[:24]}", RESET_LIMIT, RESET_WINDOW)
        user_id = await db_connection.fetchval(
            "SELECT id FROM users WHERE email = $1 AND deleted_at IS NULL AND disabled_at IS NULL",
            email,
        )
        if user_id is not None:
            await queue_password_link(db_connection, user_id, email, invitation=False)
        return Message(detail="Si un compte existe pour cette adresse, un e-mail a été envoyé.")

    @post("/password-reset/confirm", status_code=HTTP_200_OK, summary="Set a new password")
    async def password_reset_confirm(
        self,
        state: State,
        db_connection: asyncpg.Connection,
        data: JSONBody[PasswordResetConfirmIn],
    ) -> Message:
        row = await db_connection.fetchrow(
            "UPDATE password_resets r SET used_at = now() FROM users u "
            "WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now() "
            "AND u.id = r.user_id RETURNING u.id, u.email",
            token_digest(data.token),
        )
        if row is None:
            raise Problem(400, "invalid_token", "Lien invalide ou expiré : refaites la demande.")
        check_password_policy(data.password, row["email"])
        hashed = await asyncio.to_thread(hash_password, data.password, state.settings.bcrypt_rounds)
        await db_connection.execute(
            "UPDATE users SET password_hash = $2, token_version = token_version + 1, "
            "updated_at = now() WHERE id = $1",
            row["id"],
            hashed,
        )
        await db_connection.execute(
            "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = $1", row["id"]
        )
        return Message(detail="Mot de passe modifié. Vous pouvez vous connecter.")

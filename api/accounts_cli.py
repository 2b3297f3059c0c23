"""`wattsup create-admin EMAIL`: the first admin comes from the command line, never from a
default password. The password is asked twice on a terminal, or read from
WATTSUP_ADMIN_PASSWORD (or standard input) for non-interactive use."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys

from api.auth import check_password_policy
from api.security import hash_password
from wattsup.config import Settings
from wattsup.db import connect
from wattsup.problems import Problem


def _read_password() -> str:
    if os.environ.get("WATTSUP_ADMIN_PASSWORD"):
        return os.environ["WATTSUP_ADMIN_PASSWORD"]
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Mot de passe admin : ")
    if getpass.getpass("Confirmez : ") != first:
        raise SystemExit("wattsup create-admin: les mots de passe diffèrent")
    return first


async def _create(settings: Settings, email: str, password: str) -> str:
    conn = await connect(settings)
    try:
        hashed = hash_password(password, settings.bcrypt_rounds)
        status: str = await conn.fetchval(
            "INSERT INTO users (email, password_hash, role, first_name, last_name) "
            "VALUES ($1, $2, 'admin', 'Admin', 'Watts Up') "
            "ON CONFLICT (email) DO UPDATE SET role = 'admin', "
            "password_hash = EXCLUDED.password_hash, disabled_at = NULL, "
            "token_version = users.token_version + 1 "
            "RETURNING CASE WHEN xmax = 0 THEN 'created' ELSE 'promoted' END",
            email,
            hashed,
        )
        return status
    finally:
        await conn.close()


def create_admin_cli(settings: Settings, email: str) -> int:
    email = email.strip().lower()
    password = _read_password()
    try:
        check_password_policy(password, email)
    except Problem as exc:
        print(f"wattsup create-admin: {exc.detail}", file=sys.stderr)
        return 2
    status = asyncio.run(_create(settings, email, password))
    print(f"admin {email} {status}")
    return 0

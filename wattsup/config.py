"""Configuration from environment variables, parsed and validated once at start-up.

Every process (API, tile server, CLI, tests) reads the same variables, so a setting means the
same thing everywhere. A bad value stops the process with a message naming the variable.
"""

from __future__ import annotations

import os
from functools import lru_cache
from urllib.parse import urlparse

import msgspec

WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "dev", "wattsup", "password"})
DEV_SECRET = "dev-only-insecure-secret-do-not-use-in-production"  # noqa: S105 - refused in production


class ConfigError(RuntimeError):
    """Raised when an environment variable is missing or malformed."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "postgresql://postgres@127.0.0.1:5432/wattsup"
    redis_url: str = "redis://127.0.0.1:6379/0"
    port: int = 8000
    # "dev" allows the built-in development secret and non-Secure cookies on plain HTTP.
    env: str = "dev"
    secret_key: str = DEV_SECRET
    cookie_secure: bool = False
    db_pool_min: int = 1
    db_pool_max: int = 10
    # Seconds a Redis call may take before we give up and serve without the cache.
    redis_timeout: float = 0.25
    # Simulated charger clock: 1 = real time, 60 = one minute per second.
    sim_speed: float = 1.0
    reservation_hold_minutes: float = 30.0
    # How often the (single, elected) sweeper expires no-shows and completes charges.
    sweep_interval_s: float = 1.0
    # bcrypt cost; at least 12 outside tests (the test suite lowers it to stay fast).
    bcrypt_rounds: int = 12
    access_token_minutes: int = 15
    # Attempts per client IP (login per 5 min, register per hour); per-account limits are fixed.
    rate_limit_login_ip: int = 20
    rate_limit_register_ip: int = 10
    refresh_token_days: int = 30
    # Public origin used to build absolute URLs when no forwarded host is present.
    public_url: str = ""
    log_level: str = "INFO"
    # Imports over HTTP: the largest accepted upload (the national file is ~70 MB) and where
    # it is spooled while the import runs (empty: the system's temporary directory).
    import_max_mb: int = 200
    upload_dir: str = ""


def _bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true/false")


def _number(name: str, raw: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a {kind.__name__}") from None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build Settings from the environment and check them; raise ConfigError with the reason."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    for field in msgspec.structs.fields(Settings):
        names = [f"WATTSUP_{field.name.upper()}"]
        if field.name in {"database_url", "redis_url", "port"}:
            names.insert(0, field.name.upper())
        raw = next((env[n] for n in names if n in env), None)
        if raw is None:
            continue
        if field.type is bool:
            values[field.name] = _bool(names[0], raw)
        elif field.type in (int, float):
            values[field.name] = _number(names[0], raw, field.type)
        else:
            values[field.name] = raw
    settings = Settings(**values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    db = urlparse(s.database_url)
    if db.scheme not in {"postgresql", "postgres"} or not db.path.strip("/"):
        raise ConfigError(
            f"DATABASE_URL={s.database_url!r}: expected postgresql://user@host:port/dbname"
        )
    if urlparse(s.redis_url).scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(f"REDIS_URL={s.redis_url!r}: expected redis://host:port/db")
    if not 0 < s.port < 65536:
        raise ConfigError(f"PORT={s.port}: expected 1-65535")
    if s.env not in {"dev", "test", "production"}:
        raise ConfigError(f"WATTSUP_ENV={s.env!r}: expected dev, test or production")
    if s.env == "production":
        if s.secret_key in WEAK_SECRETS or s.secret_key == DEV_SECRET or len(s.secret_key) < 32:
            raise ConfigError(
                "WATTSUP_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        if not s.cookie_secure:
            raise ConfigError("WATTSUP_COOKIE_SECURE must be true in production")
    if s.bcrypt_rounds < 12 and s.env != "test":
        raise ConfigError("WATTSUP_BCRYPT_ROUNDS must be at least 12 (only tests may lower it)")
    if s.sim_speed <= 0:
        raise ConfigError("WATTSUP_SIM_SPEED must be > 0")
    if not 1 <= s.db_pool_min <= s.db_pool_max:
        raise ConfigError("WATTSUP_DB_POOL_MIN/MAX: need 1 <= min <= max")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

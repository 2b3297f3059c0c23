"""One error shape for every route of both apps: RFC 9457 `application/problem+json`.

A problem has a stable machine-readable `code` (what clients and tests switch on) and a French
`detail` a page can show as is. Domain code raises `Problem`; framework errors (validation,
404, 405, auth) are mapped here, in one place, so nothing escapes in another shape.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from wattsup.cache import REDIS_ERRORS

log = logging.getLogger("wattsup.problems")

# The key of a unique violation as PostgreSQL words it (its `detail`).
_DUPLICATE_KEY = re.compile(r"Key \((?P<field>[^)]+)\)=\((?P<value>.*)\) already exists\.", re.S)

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Default codes and French messages for the statuses the framework raises by itself.
_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "La requête est invalide."),
    401: ("not_authenticated", "Connexion requise."),
    403: ("forbidden", "Accès refusé."),
    404: ("not_found", "Ressource introuvable."),
    405: ("method_not_allowed", "Méthode non autorisée pour cette adresse."),
    409: ("conflict", "Conflit avec l'état actuel."),
    413: ("payload_too_large", "Le contenu envoyé est trop volumineux."),
    415: ("unsupported_media_type", "Type de contenu non pris en charge."),
    422: ("unprocessable", "Données invalides."),
    429: ("rate_limited", "Trop de tentatives, réessayez plus tard."),
    503: ("service_unavailable", "Service momentanément indisponible, réessayez."),
}


class ProblemBody(msgspec.Struct, omit_defaults=True):
    """The wire shape of every error (documented in OpenAPI)."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    """Raise from domain code: `raise Problem(409, "point_unavailable", "Ce point …")`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        # Extension members (RFC 9457 §3.2), e.g. the running job's id on 409 import_running.
        self.extra = extra or {}
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[bytes]:
    body = ProblemBody(
        type=f"https://wattsup.fr/problems/{code}",
        title=code.replace("_", " ").capitalize(),
        status=status,
        code=code,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    # Errors are never cacheable, whatever route produced them.
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    content = msgspec.json.encode(body)
    if extra:
        content = msgspec.json.encode({**extra, **msgspec.to_builtins(body)})
    return Response(
        content=content,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=all_headers,
    )


def _problem_handler(request: Request[Any, Any, Any], exc: Problem) -> Response[bytes]:
    return problem_response(
        exc.status,
        exc.code,
        exc.detail,
        instance=request.url.path,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


# msgspec's validation messages, in the page's language (the errors list keeps the original
# under `message_en` for tools). Anything not listed stays as msgspec wrote it.
_TYPES_FR = {
    "str": "un texte",
    "int": "un nombre entier",
    "float": "un nombre",
    "bool": "true ou false",
    "array": "une liste",
    "object": "un objet",
    "null": "null",
}
_MESSAGES_FR: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(r"Expected `str` of length >= (\d+)"),
        lambda m: f"au moins {m[1]} caractère{'s' if m[1] != '1' else ''}",
    ),
    (
        re.compile(r"Expected `str` of length <= (\d+)"),
        lambda m: f"au plus {m[1]} caractères",
    ),
    (
        re.compile(r"Expected `array` of length >= (\d+)"),
        lambda m: f"au moins {m[1]} élément{'s' if m[1] != '1' else ''}",
    ),
    (
        re.compile(r"Expected `array` of length <= (\d+)"),
        lambda m: f"au plus {m[1]} éléments",
    ),
    (
        re.compile(r"Expected `(?:int|float)` (>=|>|<=|<) ([-\d.e]+)"),
        lambda m: (
            "un nombre "
            + {">=": "d'au moins", ">": "supérieur à", "<=": "d'au plus", "<": "inférieur à"}[m[1]]
            + f" {m[2]}"
        ),
    ),
    (
        re.compile(r"Expected `(\w+)[^`]*`, got `[^`]*`"),
        lambda m: f"{_TYPES_FR.get(m[1], m[1])} attendu",
    ),
    (re.compile(r"Expected `str` matching regex"), lambda m: "format non reconnu"),
    (re.compile(r"Invalid enum value (.+)"), lambda m: f"valeur non autorisée {m[1]}"),
    (re.compile(r"Object missing required field `(\w+)`"), lambda m: f"champ « {m[1]} » requis"),
    (
        re.compile(r"Object contains unknown field `(\w+)`"),
        lambda m: f"champ « {m[1]} » inconnu",
    ),
    (re.compile(r"Invalid UUID"), lambda m: "identifiant (UUID) invalide"),
    (re.compile(r"Invalid RFC3339 encoded datetime"), lambda m: "date et heure ISO 8601 attendues"),
)


def _in_french(message: str) -> str:
    for pattern, render in _MESSAGES_FR:
        match = pattern.match(message)
        if match:
            return render(match)
    return message


def _validation_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[bytes]:
    extra = exc.extra if isinstance(exc.extra, list) else None
    errors = [e for e in extra if isinstance(e, dict)] if extra else None
    for error in errors or []:
        if isinstance(error.get("message"), str):
            error["message_en"] = error["message"]
            error["message"] = _in_french(error["message"])
    # Litestar reports body/query validation as 400; a body that parses but breaks a field
    # rule is what 422 means, so say which field and why.
    detail = "Données invalides."
    if errors:
        first = errors[0]
        key = first.get("key") or first.get("source") or "?"
        reason = first.get("message", "valeur refusée")
        # "data" is the framework's name for the whole body, not one of its fields.
        where = "Requête invalide" if key == "data" else f"Champ « {key} » invalide"
        detail = f"{where} : {reason}."
    elif exc.detail:
        detail = f"Requête invalide : {exc.detail}"
    return problem_response(
        400, "invalid_request", detail, instance=request.url.path, errors=errors
    )


_background: set[asyncio.Task[None]] = set()


def _http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    code, detail = _DEFAULTS.get(status, ("error", "Erreur."))
    return problem_response(
        status, code, detail, instance=request.url.path, headers=dict(exc.headers or {})
    )


def _unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.warning("dependency unavailable on %s: %r", request.url.path, exc)
    pool = getattr(request.app.state, "pool", None)
    if pool is not None and isinstance(
        exc,
        asyncpg.InternalClientError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.exceptions.AdminShutdownError
        | asyncpg.exceptions.CrashShutdownError,
    ):
        # The server dropped a connection (restart, failover): its siblings in the pool are
        # likely dead too. Have the pool replace them all on their next use, so only this
        # request fails, not one request per stale connection.
        task = asyncio.get_running_loop().create_task(pool.expire_connections())
        _background.add(task)
        task.add_done_callback(_background.discard)
    code, detail = _DEFAULTS[503]
    return problem_response(
        503, code, detail, instance=request.url.path, headers={"Retry-After": "5"}
    )


def _database_handler(
    request: Request[Any, Any, Any], exc: asyncpg.PostgresError
) -> Response[bytes]:
    """Invariants the database enforces, answered as the conflicts they are."""
    state = getattr(exc, "sqlstate", None)
    if state == "WU409":  # raised by our transition triggers
        return problem_response(
            409,
            "invalid_transition",
            "Changement d'état refusé : " + str(exc),
            instance=request.url.path,
        )
    if isinstance(exc, asyncpg.UniqueViolationError | asyncpg.ExclusionViolationError):
        # PostgreSQL names the clashing key: "Key (id_pdc_itinerance)=(FR…) already exists."
        # Said back as the field to correct, so a form can mark it (an admin adding a point
        # whose id is already taken), not as a bare "conflict".
        key = _DUPLICATE_KEY.match(getattr(exc, "detail", None) or "")
        if key is None or "," in key["field"]:
            return problem_response(
                409, "conflict", "Conflit avec une donnée existante.", instance=request.url.path
            )
        field, value = key["field"].strip('"'), key["value"]
        return problem_response(
            409,
            "conflict",
            f"« {value[:100]} » est déjà utilisé ({field}) : choisissez-en un autre.",
            instance=request.url.path,
            errors=[{"field": field, "reason": f"« {value[:100]} » est déjà utilisé"}],
        )
    if state is not None and state.startswith("22"):
        # Data exceptions: a value PostgreSQL cannot store as sent (U+0000 in text, a number
        # out of range…). The request is at fault, not the server.
        return problem_response(
            400,
            "invalid_value",
            "Valeur refusée : caractère ou nombre non accepté.",
            instance=request.url.path,
        )
    if isinstance(exc, asyncpg.CheckViolationError):
        return problem_response(
            422, "constraint_violation", "Valeur refusée par une règle.", instance=request.url.path
        )
    return _internal_handler(request, exc)


def _internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if isinstance(exc, Problem):
        return _problem_handler(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "Erreur interne. L'équipe a été prévenue.",
        instance=request.url.path,
    )


def exception_handlers() -> ExceptionHandlersMap:
    unavailable: tuple[type[Exception], ...] = (
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
        # A pooled connection whose server process was just terminated (a restart, a
        # failover): asyncpg notices mid-operation. The pool replaces it; this request is a 503.
        asyncpg.InternalClientError,
        # Class 57: the server is shutting down or restarting ("terminating connection due to
        # administrator command" can reach a query before the closed socket does), or it
        # cancelled the statement.
        asyncpg.exceptions.OperatorInterventionError,
        ConnectionRefusedError,
        *REDIS_ERRORS,
    )
    handlers: dict[int | type[Exception], Any] = {
        Problem: _problem_handler,
        ValidationException: _validation_handler,
        HTTPException: _http_handler,
        HTTP_500_INTERNAL_SERVER_ERROR: _internal_handler,
        asyncpg.PostgresError: _database_handler,
    }
    for exc_type in unavailable:
        handlers[exc_type] = _unavailable_handler
    handlers[asyncpg.InterfaceError] = _interface_handler
    return handlers


def _interface_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """asyncpg's client-side errors: a connection found closed (e.g. when a transaction
    ends on a connection the server just dropped) is the database being unavailable; any
    other is a bug of ours."""
    if "closed" in str(exc):
        return _unavailable_handler(request, exc)
    return _internal_handler(request, exc)


PROBLEM_MEDIA = MediaType.JSON  # re-exported for route declarations

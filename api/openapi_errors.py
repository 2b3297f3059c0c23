"""Document the errors every route can answer, in the one RFC 9457 shape.

Litestar documents the success response and body validation (400) of each handler; the rest
of a route's error statuses follow from what the route is (guarded, with a path id, a write),
so they are added here from the route table rather than repeated on every handler."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec

from api.security import require_admin, require_user
from wattsup.problems import PROBLEM_MEDIA_TYPE, ProblemBody

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def problem_spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemBody,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
    )


def _needs_user(handler: Any) -> bool:
    deps = set(handler.resolve_dependencies()) | set(handler.parsed_fn_signature.parameters)
    guards = set(handler.resolve_guards())
    return bool({"current_user", "current_session"} & deps) or bool(
        guards & {require_user, require_admin}
    )


def document_errors(app: Litestar) -> None:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            methods = set(getattr(handler, "http_methods", ()))
            extra: dict[int, ResponseSpec] = {
                400: problem_spec("Malformed request: a parameter or body field is invalid"),
                503: problem_spec("Database or Redis unavailable: retry shortly"),
            }
            if _needs_user(handler):
                extra[401] = problem_spec("Not signed in, or the session has ended")
            if require_admin in set(handler.resolve_guards()):
                extra[403] = problem_spec("Signed in, but not an admin")
            if "{" in route.path or methods & WRITES:
                # A path id, or an id in the body (a vehicle, a station) that is not found.
                extra[404] = problem_spec("No such resource (or not yours)")
            if methods & WRITES:
                extra.setdefault(403, problem_spec("CSRF token missing or wrong (cookie sessions)"))
                extra[409] = problem_spec(
                    "Conflicts with the current state (duplicate, taken, running)"
                )
                extra[422] = problem_spec("Well-formed but breaks a rule (field errors listed)")
            if route.path.startswith("/api/auth/"):
                extra[429] = problem_spec("Too many attempts: see Retry-After")
            handler.responses = {**extra, **(handler.responses or {})}

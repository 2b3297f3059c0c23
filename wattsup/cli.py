"""The `wattsup` command: migrate, import, serve, create-admin, stats."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from wattsup.config import ConfigError, Settings, load_settings


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from wattsup.database_admin import downgrade, migrate

    if args.downgrade:
        downgrade(settings, args.downgrade)
    else:
        migrate(settings, args.revision)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from wattsup.devserver import create_dev_app

    uvicorn.run(
        create_dev_app(settings),
        host=args.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from wattsup.importer.cli import run_import_cli

    return int(run_import_cli(settings, args.path, full=args.full, quiet=args.quiet))


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from api.accounts_cli import create_admin_cli

    return int(create_admin_cli(settings, args.email))


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from wattsup.stats import collect_stats

    stats = asyncio.run(collect_stats(settings))
    if args.json:
        print(json.dumps(stats, indent=2, default=str, ensure_ascii=False))
    else:
        for key, value in stats.items():
            print(f"{key:>28}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wattsup", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("migrate", help="create the database if needed and migrate it to head")
    m.add_argument("revision", nargs="?", default="head")
    m.add_argument("--downgrade", metavar="REV", help="downgrade to REV (e.g. base)")
    m.set_defaults(func=cmd_migrate)

    i = sub.add_parser("import", help="import an IRVE CSV file (static schema v2, or legacy v1)")
    i.add_argument("path", help="CSV file, or - for standard input")
    i.add_argument(
        "--full",
        action="store_true",
        help="the file is a full national snapshot: withdraw points missing from it",
    )
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=cmd_import)

    s = sub.add_parser("serve", help="serve API, tiles and pages from one dev process")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=None)
    s.set_defaults(func=cmd_serve)

    a = sub.add_parser("create-admin", help="create (or promote) an admin; asks for a password")
    a.add_argument("email")
    a.set_defaults(func=cmd_create_admin)

    st = sub.add_parser("stats", help="network and import figures")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_stats)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"wattsup: configuration error: {exc}", file=sys.stderr)
        return 2
    func: Callable[[Settings, argparse.Namespace], int] = args.func
    result: Any = func(settings, args)
    return int(result)


if __name__ == "__main__":
    raise SystemExit(main())

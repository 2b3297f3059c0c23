# Watts Up tasks. `just up` runs the app with real IRVE data; `just test` runs every test.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv / "bin/python"
export DATABASE_URL := env("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/wattsup")
export REDIS_URL := env("REDIS_URL", "redis://127.0.0.1:6379/0")
export PORT := env("PORT", "8000")

# The largest real IRVE file at hand: the team's shared copy if present, else the one shipped.
real_data := if path_exists("../shared/data/irve/legacy-v1/bornes-irve-2018-v1.csv") == "true" { "../shared/data/irve/legacy-v1/bornes-irve-2018-v1.csv" } else { "tests/data/bornes-irve-2018-v1.csv" }

default:
    @just --list

# System packages (PostGIS, Chromium, nginx), running services, and the Python environment.
setup:
    bash .ci/setup-system.sh
    test -x {{py}} || python3 -m venv {{venv}}
    {{py}} -m pip install -q --disable-pip-version-check -e '.[dev]'

# Bring the app up with the real IRVE data loaded, on http://127.0.0.1:$PORT
up: setup
    {{venv}}/bin/wattsup migrate
    {{venv}}/bin/wattsup import "{{real_data}}"
    {{venv}}/bin/wattsup import tests/data/exemple-valide-statique.csv --quiet
    {{venv}}/bin/wattsup stats
    @echo "Watts Up on http://127.0.0.1:$PORT  (admin: .venv/bin/wattsup create-admin you@example.org)"
    {{venv}}/bin/wattsup serve --host 127.0.0.1

# Every test: unit, integration on real PostGIS/Redis, browser, multi-process behind nginx.
test: setup
    {{py}} -m pytest

# Lint and type-check (ruff + mypy --strict).
lint: setup
    {{venv}}/bin/ruff check .
    {{venv}}/bin/ruff format --check .
    {{venv}}/bin/mypy

# Benchmarks: each script prints its figures.
bench: setup
    {{py}} bench/import.py
    {{py}} bench/tiles.py
    {{py}} bench/reservations.py
    {{py}} bench/booking_sql.py
    {{py}} bench/stack.py
    {{py}} bench/driver_page.py

# One image for every Watts Up process: the API, the tile server, the migrate and import
# one-shots (compose picks the command). Debian 13 slim with Python 3.11.
FROM python:3.11-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# No system packages needed: asyncpg, msgspec and bcrypt ship manylinux wheels, and psql is
# not used (`wattsup migrate` talks to PostgreSQL itself).
RUN useradd --system --create-home --uid 10001 --user-group wattsup
WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN mkdir -p wattsup api tileserver \
    && touch wattsup/__init__.py api/__init__.py tileserver/__init__.py \
    && pip install . \
    && pip uninstall -y wattsup \
    && rm -rf wattsup api tileserver build *.egg-info

# The code reads sql/ and alembic.ini next to the packages (ROOT = the project directory), so
# the project is installed in place (editable) rather than copied into site-packages.
COPY --chown=wattsup:wattsup . .
RUN pip install --no-deps -e . && chown -R wattsup:wattsup /app

USER wattsup
ENV PORT=8000
EXPOSE 8000

# Behind nginx: trust its X-Forwarded-* (it is the only way in; the app port is not published).
ENV FORWARDED_ALLOW_IPS="*"
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health\", timeout=2)"]

# The API by default; compose runs the tile server from the same image.
CMD ["sh", "-c", "exec uvicorn api.app:create_app --factory --host 0.0.0.0 --port \"$PORT\" --proxy-headers --no-access-log"]

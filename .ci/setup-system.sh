#!/usr/bin/env bash
# Install what a fresh Debian 12 machine lacks and make sure PostgreSQL and Redis run.
# Idempotent: packages already there are not fetched again (no apt-get update either).
set -euo pipefail

need=()
dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
# nginx lives in /usr/sbin, which a normal user's PATH may not hold.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
fresh_postgres=0
command -v psql >/dev/null 2>&1 || { need+=(postgresql-15); fresh_postgres=1; }
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# Debian's own Python needs python3-venv for `python3 -m venv` (ensurepip) and pipx to
# install `just` beside its externally managed site-packages.
python3 -c "import ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
python3 -m pip --version >/dev/null 2>&1 || command -v pipx >/dev/null 2>&1 || need+=(pipx)
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A PostgreSQL installed here and now: the app and the tests connect as `postgres` over
# 127.0.0.1 without a password (DATABASE_URL), as on CI's service container. Only this
# fresh, local cluster is opened that way; an existing one is left as its admin set it.
if ((fresh_postgres)); then
  hba="$(ls -d /etc/postgresql/*/main | head -1)/pg_hba.conf"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  # If the package already started it, it has read the old rules.
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main reload 2>/dev/null || true
fi

# PostgreSQL and Redis: start them when they are not answering (a fresh container has them
# installed but stopped).
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "setup: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "setup: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 1; done
fi

#!/usr/bin/env bash
# Shared by run.sh and test.sh: a virtual environment with the project installed,
# and PostgreSQL, RabbitMQ and Redis answering on their standard loopback ports
# (used as found, started from installed binaries, or installed on Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${EMS_VENV:-.venv}

log() { printf '[bootstrap] %s\n' "$*" >&2; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do listening "$1" && return 0; sleep 1; done
  log "port $1 did not open"; return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "cannot install $* (need root on Debian/Ubuntu); install it and rerun"; exit 1
  fi
  if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  listening 5432 && return 0
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  log "starting PostgreSQL"
  local version; version=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432
  # Local development trusts loopback connections, as the CI machine does.
  if ! psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null 2>&1; then
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    sed -i 's/^\(host\s\+all\s\+all\s\+127.0.0.1\/32\s\+\).*/\1trust/' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
}

ensure_rabbitmq() {
  listening 5672 && return 0
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached
  wait_port 5672
}

ensure_redis() {
  listening 6379 && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_port 6379
}

ensure_mosquitto() {
  # Tests and scripts/run.sh start private brokers from the binary (their own config and
  # port); the one on 1883 is the machine's, which some edge tests also use.
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_install mosquitto
  listening 1883 && return 0
  log "starting Mosquitto"
  local mosquitto; mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    "$mosquitto" -d -c /etc/mosquitto/mosquitto.conf
  else
    "$mosquitto" -d -p 1883
  fi
  wait_port 1883
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  # Reinstall only when the dependency declarations changed.
  local stamp="$VENV/.ems-installed"
  local digest; digest=$(cat pyproject.toml edge-agent/pyproject.toml | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    log "installing the project into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]" -e "./edge-agent[sql,opcua]"
    echo "$digest" > "$stamp"
  fi
}

ensure_portal_assets() {
  # htmx and ECharts from the npm registry (the lock file pins them), served by the portal.
  local dir=platform/ems/portal/assets
  command -v npm >/dev/null || apt_install nodejs npm
  local stamp="$dir/node_modules/.ems-installed"
  local digest; digest=$(sha256sum "$dir/package-lock.json" | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    log "installing the portal's front-end libraries (npm ci)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    echo "$digest" > "$stamp"
  fi
}

ensure_browser() {
  # Browser tests and screenshots: Debian's Chromium (Playwright drives it; it never
  # downloads a browser) and fonts that render Chinese.
  local need=()
  [ -x /usr/bin/chromium ] || need+=(chromium)
  fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
  fc-list 2>/dev/null | grep -qi "WenQuanYi Micro Hei" || need+=(fonts-wqy-microhei)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt_install "${need[@]}"
  fi
}

ensure_postgres
ensure_rabbitmq
ensure_redis
ensure_mosquitto
ensure_venv
ensure_portal_assets
if [ "${1:-}" = "--browser" ]; then ensure_browser; fi

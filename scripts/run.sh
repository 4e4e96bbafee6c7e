#!/usr/bin/env bash
# The first command: the whole platform on one machine. API + portal, worker and
# scheduler, against the services on their standard ports, with a demo tenant
# and demo users. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
VENV=${EMS_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"

mkdir -p var/log
[ -s var/secret_key ] || (umask 077; "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' > var/secret_key)
export EMS_SECRET_KEY="$(cat var/secret_key)"
export EMS_DATA_DIR="$PWD/var"
export EMS_DATABASE_URL=${EMS_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/ems}
PORT=${EMS_PORT:-8000}
export EMS_ISSUER=${EMS_ISSUER:-http://127.0.0.1:$PORT}

dbname=${EMS_DATABASE_URL##*/}
if ! psql -h 127.0.0.1 -U postgres -Atc "select 1 from pg_database where datname='$dbname'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE \"$dbname\"" >/dev/null
fi
ems db upgrade
ems demo seed | tee var/demo-credentials.txt

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM
ems api --bind "127.0.0.1:$PORT" >var/log/api.log 2>&1 & pids+=($!)
ems worker >var/log/worker.log 2>&1 & pids+=($!)
ems scheduler >var/log/scheduler.log 2>&1 & pids+=($!)

# A simulated plant (64 meters: Modbus TCP, DL/T 645, CJ/T 188), its gateway agent, and a
# simulated data centre on the local broker that acknowledges what it receives. The cloud
# ingest will take the data centre's place (issue 4).
mkdir -p var/edge
rm -f var/edge/agent.yaml
ems-edge simulate --write-config var/edge/agent.yaml --state-dir var/edge/state \
  --mqtt dc1=127.0.0.1:1883 --data-centre >var/log/plant.log 2>&1 & pids+=($!)
for _ in $(seq 1 30); do [ -s var/edge/agent.yaml ] && break; sleep 1; done
ems-edge run --config var/edge/agent.yaml >var/log/edge-agent.log 2>&1 & pids+=($!)

for _ in $(seq 1 30); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 1; done
cat <<MSG

EMS is running.
  API:          http://127.0.0.1:$PORT/api/v1   (Swagger UI: http://127.0.0.1:$PORT/api/v1/docs)
  Readiness:    http://127.0.0.1:$PORT/readyz
  Credentials:  var/demo-credentials.txt
  Edge agent:   ems-edge status --config var/edge/agent.yaml   (local API http://127.0.0.1:8765/status)
  Logs:         var/log/{api,worker,scheduler,plant,edge-agent}.log
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
echo "a process exited; see var/log" >&2
exit 1

#!/usr/bin/env bash
# The first command: the whole platform on one machine. API + portal, worker and
# scheduler, against the services on their standard ports, with a demo tenant
# and demo users; and the data path for real: a simulated plant, its gateway
# agent, a private Mosquitto configured from the gateway registry, and the ingest
# that stores the readings in PostgreSQL. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
VENV=${EMS_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"

# A random secret kept in var/ across runs, readable by this user only.
secret() {
  [ -s "$1" ] || (umask 077; "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' > "$1")
  cat "$1"
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p var/log var/edge var/broker
SECRET_KEY=$(secret var/secret_key)
export EMS_SECRET_KEY=$SECRET_KEY
export EMS_DATA_DIR="$PWD/var"
export EMS_DATABASE_URL=${EMS_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/ems}
PORT=${EMS_PORT:-8000}
export EMS_ISSUER=${EMS_ISSUER:-http://127.0.0.1:$PORT}

# The data path. The broker's passwd and acl are rendered from the gateway registry into
# var/broker (by `ems gateways register|broker-files` and the API), which then signal the
# broker through its pid file. The ingest logs in with its own account; the gateways are
# told to connect to EMS_MQTT_PUBLIC.
BROKER_PORT=${EMS_BROKER_PORT:-18830}
MOSQUITTO=${EMS_MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
INGEST_PASSWORD=$(secret var/ingest_password)
export EMS_DC_NAME=${EMS_DC_NAME:-dc1}
export EMS_BROKER_DIR="$PWD/var/broker"
export EMS_BROKER_PID_FILE="$EMS_BROKER_DIR/mosquitto.pid"
export EMS_MQTT_URL="mqtt://ingest-$EMS_DC_NAME:$INGEST_PASSWORD@127.0.0.1:$BROKER_PORT"
export EMS_MQTT_PUBLIC="127.0.0.1:$BROKER_PORT"

dbname=${EMS_DATABASE_URL##*/}
if ! psql -h 127.0.0.1 -U postgres -Atc "select 1 from pg_database where datname='$dbname'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE \"$dbname\"" >/dev/null
fi
ems db upgrade
ems demo seed | tee var/demo-credentials.txt

# A broker left behind by a run that could not clean up (killed with SIGKILL) holds the
# port: stop it if the pid file still names our broker, else forget the stale file (the
# registry commands would signal whatever process has that pid now).
if [ -s "$EMS_BROKER_PID_FILE" ]; then
  old=$(cat "$EMS_BROKER_PID_FILE")
  command_line=$(tr '\0' ' ' 2>/dev/null <"/proc/$old/cmdline" || true)
  if [[ $command_line == *"$EMS_BROKER_DIR/mosquitto.conf"* ]]; then
    echo "stopping the broker of an earlier run (pid $old)" >&2
    kill "$old" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$old" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f "$EMS_BROKER_PID_FILE"
fi
if listening "$BROKER_PORT"; then
  echo "port $BROKER_PORT is in use; choose another with EMS_BROKER_PORT" >&2
  exit 1
fi
ems broker config --port "$BROKER_PORT" --log-file var/log/broker.log >/dev/null

# The demo gateway is registered once: its password and signing key are shown only then.
if [ ! -s var/edge/identity.yaml ]; then
  if ! (umask 077; ems gateways register demo-steel gw1 >var/edge/identity.yaml.new); then
    rm -f var/edge/identity.yaml.new
    cat >&2 <<'MSG'
Could not register the demo gateway. If demo-steel-gw1 is registered but
var/edge/identity.yaml was lost, rotate it (POST /api/v1/tenants/demo-steel/gateways/
demo-steel-gw1/rotate) and save the answer's agent_config as var/edge/identity.yaml.
MSG
    exit 1
  fi
  mv var/edge/identity.yaml.new var/edge/identity.yaml
  # A new gateway starts with an empty buffer: readings of another gateway id stay out.
  rm -rf var/edge/state
fi
ems gateways broker-files >/dev/null

pids=()
broker_pid=
declare -A names=()
# start NAME COMMAND...: run it in the background, its output in var/log/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"var/log/$name.log" 2>&1 &
  pids+=($!)
  names[$!]=$name
}
stopped=
stop() {
  [ -n "$stopped" ] && return
  stopped=1
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  # The broker last, so the ingest's final acknowledgements still reach the agent.
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
}
trap stop EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM

# In a session of its own, so that Ctrl-C (sent to this whole process group) leaves it to the
# trap to stop last; a broker orphaned by `kill -9` is stopped by the next run (pid file).
detach=$(command -v setsid || true)
$detach "$MOSQUITTO" -c "$EMS_BROKER_DIR/mosquitto.conf" >>var/log/broker.log 2>&1 &
broker_pid=$!
names[$broker_pid]=broker
for _ in $(seq 1 40); do listening "$BROKER_PORT" && break; sleep 0.25; done
if ! listening "$BROKER_PORT"; then
  echo "Mosquitto did not start on port $BROKER_PORT; see var/log/broker.log" >&2
  exit 1
fi
# A simulated provincial monitoring platform (Yunnan style: access keys, SM4 PIN block),
# which the worker uploads the demo tenant's figures to every 5 minutes. It keeps its
# accounts in memory, so the demo registers again on every run; what it accepted is
# appended to var/provsim/records.jsonl.
PROVSIM_PORT=${EMS_PROVSIM_PORT:-8310}
if listening "$PROVSIM_PORT"; then
  echo "port $PROVSIM_PORT is in use; choose another with EMS_PROVSIM_PORT" >&2
  exit 1
fi
mkdir -p var/provsim
credit=$(psql -h 127.0.0.1 -U postgres -Atc "select credit_code || ':' || region_code from control.tenants where slug='demo-steel'" "$dbname")
start provsim ems-provsim --profile yunnan --port "$PROVSIM_PORT" \
  --provision "$credit:204816" --record var/provsim/records.jsonl
for _ in $(seq 1 40); do listening "$PROVSIM_PORT" && break; sleep 0.25; done
ems demo upload --url "http://127.0.0.1:$PROVSIM_PORT"

start ingest ems ingest run --client-id ingest-run-1
start api ems api --bind "127.0.0.1:$PORT"
start worker ems worker
start scheduler ems scheduler

# A simulated plant (64 meters: Modbus TCP, DL/T 645, CJ/T 188) and a configuration for its
# agent with the registered identity. --mqtt keeps the broker address current when
# EMS_BROKER_PORT changed since the registration.
rm -f var/edge/agent.yaml
start plant ems-edge simulate --identity var/edge/identity.yaml --state-dir var/edge/state \
  --mqtt "$EMS_DC_NAME=127.0.0.1:$BROKER_PORT" --write-config var/edge/agent.yaml
plant_pid=$!
for _ in $(seq 1 30); do
  [ -s var/edge/agent.yaml ] && break
  kill -0 "$plant_pid" 2>/dev/null || { cat var/log/plant.log >&2; exit 1; }
  sleep 1
done
# The cloud's point catalogue gets every point the agent will send before it sends any
# (a reading of an unknown point is quarantined).
if ! ems gateways import-points demo-steel --config var/edge/agent.yaml; then
  echo "If the database was recreated, remove var/edge/identity.yaml to register anew." >&2
  exit 1
fi
start edge-agent ems-edge run --config var/edge/agent.yaml

schema=$(psql -h 127.0.0.1 -U postgres -Atc "select schema_name from control.tenants where slug='demo-steel'" "$dbname")
for _ in $(seq 1 30); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 1; done
cat <<MSG

EMS is running.
  Portal:       http://127.0.0.1:$PORT/   (log in as manager@demo.ems.local / demo-password-1; other roles in var/demo-credentials.txt)
  API:          http://127.0.0.1:$PORT/api/v1   (Swagger UI: http://127.0.0.1:$PORT/api/v1/docs)
  Readiness:    http://127.0.0.1:$PORT/readyz
  Credentials:  var/demo-credentials.txt
  Broker:       Mosquitto on 127.0.0.1:$BROKER_PORT (var/broker: mosquitto.conf, passwd, acl)
  Edge agent:   ems-edge status --config var/edge/agent.yaml   (local API http://127.0.0.1:8765/status)
  Readings:     psql -h 127.0.0.1 -U postgres $dbname -c 'select count(*), max(ts) from $schema.readings'
  Real time:    GET /api/v1/tenants/demo-steel/realtime (log in as the energy manager)
  Province:     simulated platform http://127.0.0.1:$PROVSIM_PORT (accepted rows: var/provsim/records.jsonl)
                GET /api/v1/tenants/demo-steel/upload/statistics/days, /upload/requests
  Logs:         var/log/{api,worker,scheduler,broker,ingest,plant,edge-agent,provsim}.log
Press Ctrl-C to stop.
MSG
# Ctrl-C reaches every process of the group, and some end by themselves before the trap runs.
exited=
wait -n -p exited "${pids[@]}" "$broker_pid" || true
what="a process"
[ -n "$exited" ] && what=${names[$exited]:-$what}
echo "$what exited; stopping the rest (logs in var/log)" >&2
exit 1

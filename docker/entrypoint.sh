#!/bin/sh
# Entry point of the platform image: the first argument names the role of the container.
#
#   api        ems api --bind 0.0.0.0:8000   (REST API and portal, gunicorn)
#   worker     ems worker                    (Dramatiq workers)
#   scheduler  ems scheduler                 (periodic jobs; one leads, the others stand by)
#   ingest     ems ingest run                (MQTT ingest: gateways' messages to PostgreSQL)
#   migrate    ems db upgrade                (control schema, then every tenant schema)
#   other      executed as given             (`ems tenants list`, `sh`, ...)
#
# Arguments after the role are passed on (`worker --processes 4`). Every branch uses exec, so
# the process is PID 1 and receives the container's SIGTERM itself.
set -eu

if [ "$#" -eq 0 ]; then
    set -- api
fi

role="$1"
shift

case "$role" in
    api) exec ems api --bind 0.0.0.0:8000 "$@" ;;
    worker) exec ems worker "$@" ;;
    scheduler) exec ems scheduler "$@" ;;
    ingest) exec ems ingest run "$@" ;;
    migrate) exec ems db upgrade "$@" ;;
    *) exec "$role" "$@" ;;
esac

"""WSGI entry point for gunicorn: ``gunicorn ems.wsgi:app``."""

import gc

from ems.app import create_app

app = create_app()

# Everything loaded so far (the app, SQLAlchemy's mappers, the schemas) lives as long as
# the worker: move it out of the collector's generations, so that a full collection walks
# only what requests allocate. Without this a full pass over the loaded process cost
# about 70 ms every few requests and set the p95 of the energy actuals (bench/actuals_query.py).
gc.collect()
gc.freeze()

"""WSGI entry point for gunicorn: ``gunicorn ems.wsgi:app``."""

from ems.app import create_app

app = create_app()

"""What a running app holds: settings, database, key store, rate limiter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app
from redis import Redis

from ems.auth.keys import KeyStore
from ems.config import Settings
from ems.db import Database


@dataclass
class AppState:
    """Process-wide resources of one Flask app."""

    settings: Settings
    db: Database
    keys: KeyStore
    redis: Redis


def state() -> AppState:
    """The resources of the current app."""
    return cast(AppState, current_app.extensions["ems"])

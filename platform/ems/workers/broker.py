"""The Dramatiq broker of the platform, configured from the environment.

Importing this module sets the global broker, so it must be imported before any
module that declares actors (``ems.workers.actors`` does it first).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from ems.config import load_settings
from ems.workers.middleware import TenantMiddleware


def make_broker(url: str) -> RabbitmqBroker:
    """A RabbitMQ broker with the tenant middleware installed."""
    broker = RabbitmqBroker(url=url, confirm_delivery=True)
    broker.add_middleware(TenantMiddleware())
    return broker


broker = make_broker(load_settings().broker_url)
dramatiq.set_broker(broker)

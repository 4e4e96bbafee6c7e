"""EMS edge agent: the program on a plant's gateway.

It polls the meters, keeps every reading in a durable local buffer and
publishes them to the platform's data centres over MQTT. It installs on its own
(``pip install ./edge-agent``) with only its own dependencies: nothing of the
cloud side (Flask, SQLAlchemy) reaches a gateway.
"""

__version__ = "0.1.0"

"""The ``ems-edge`` command of the gateway agent.

``ems-edge run --config FILE``      run the agent (systemd: see examples/ems-edge.service)
``ems-edge check-config FILE``      validate a configuration and show its buffer sizing
``ems-edge status --config FILE``   buffer depth per data centre, last poll per bus, faults
``ems-edge keygen``                 a new Ed25519 signing key for a gateway
``ems-edge simulate ...``           simulated meters (and a matching configuration) for tests
                                    and the one-machine demo
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ems_edge import __version__
from ems_edge.errors import EdgeAgentError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ems-edge``."""
    parser = argparse.ArgumentParser(
        prog="ems-edge", description="Gateway agent of the energy management platform."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the agent")
    run.add_argument("--config", type=Path, required=True)
    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", type=Path)
    status = commands.add_parser("status", help="show buffer depth, last polls and faults")
    status.add_argument("--config", type=Path, required=True)
    status.add_argument("--json", action="store_true", help="print the raw status document")
    commands.add_parser("keygen", help="print a new Ed25519 signing key (base64)")
    simulate = commands.add_parser("simulate", help="serve simulated meters")
    from ems_edge.simulators.plant import add_arguments

    add_arguments(simulate)
    return parser


def _setup_logging(level: str) -> None:
    # One JSON object per line: gateways ship logs to journald or a collector that parses them.
    class JsonFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            entry = {
                "t": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "msg": record.getMessage(),
            }
            if record.exc_info:
                entry["exc"] = self.formatException(record.exc_info)
            return json.dumps(entry, ensure_ascii=False)

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ems-edge`` with ``argv`` (default: the process arguments); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return _dispatch(parser, args)
    except EdgeAgentError as exc:
        print(f"ems-edge: {exc}", file=sys.stderr)
        return 2


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "run":
        from ems_edge.agent import run

        return run(args.config)
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "status":
        from ems_edge.status import show

        return show(args.config, as_json=args.json)
    if args.command == "keygen":
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        print(f"signing_key: {base64.b64encode(key.private_bytes_raw()).decode()}")
        print(f"# public key for the cloud's gateway registry: {base64.b64encode(public).decode()}")
        return 0
    if args.command == "simulate":
        from ems_edge.simulators.plant import run_simulation

        return run_simulation(args)
    parser.print_help()
    return 0


def _check_config(path: Path) -> int:
    from ems_edge.agent import buffer_capacity
    from ems_edge.config import load_config

    config = load_config(path)
    per_day = config.readings_per_day()
    print(f"{path}: valid (version {config.version})")
    print(
        f"gateway {config.gateway.id}: {len(config.buses)} buses, "
        f"{sum(len(b.meters) for b in config.buses)} meters, {len(config.points())} points"
    )
    print(
        f"{per_day:.0f} readings/day; buffer capacity {buffer_capacity(config)} readings "
        f"({config.gateway.buffer_days:g} days)"
    )
    print(
        "data centres: " + ", ".join(f"{d.name} ({d.host}:{d.port})" for d in config.data_centres)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

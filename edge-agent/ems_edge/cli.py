"""The ``ems-edge`` command of the gateway agent.

For now it only answers ``--version``. The meter drivers (Modbus, DL/T 645,
CJ/T 188), the durable local buffer and the MQTT publisher arrive with a later
issue (issue 3), together with the subcommands that run them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ems_edge import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ems-edge``."""
    parser = argparse.ArgumentParser(
        prog="ems-edge",
        description="Gateway agent of the energy management platform.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ems-edge`` with ``argv`` (default: the process arguments); returns the exit status."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0

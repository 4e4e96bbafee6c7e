"""``ems-provsim``: run one simulated provincial platform until interrupted.

ems-provsim --profile national --port 8310 --provision 91330000573973053F:330100
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ems_provsim.errors import ProvsimError
from ems_provsim.server import Simulator, TlsFiles


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ems-provsim",
        description="A simulated provincial energy monitoring platform (one province).",
    )
    parser.add_argument(
        "--profile", default="national", help="profile name or path to a profile TOML"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8310, help="0 picks a free port")
    parser.add_argument("--tls-cert", help="server certificate (PEM); enables HTTPS")
    parser.add_argument("--tls-key", help="server private key (PEM)")
    parser.add_argument(
        "--client-ca", help="CA (PEM) that client certificates must chain to (mTLS)"
    )
    parser.add_argument(
        "--provision",
        action="append",
        default=[],
        metavar="CODE:REGION[:PIN]",
        help="open an account before serving (repeatable)",
    )
    parser.add_argument(
        "--record", metavar="FILE", help="append accepted rows to FILE as JSON lines"
    )
    parser.add_argument("--public-url", help="base of the service URLs handed out at registration")
    registration = parser.add_mutually_exclusive_group()
    registration.add_argument(
        "--open-registration", dest="open_registration", action="store_true", default=None
    )
    registration.add_argument(
        "--closed-registration", dest="open_registration", action="store_false"
    )
    parser.add_argument(
        "--no-uscc-check-digit",
        action="store_true",
        help="accept credit codes whose check character is wrong",
    )
    parser.add_argument(
        "--access-key-ttl", type=int, default=7200, help="seconds (bearer profiles)"
    )
    return parser


def _tls(args: argparse.Namespace) -> TlsFiles | None:
    if not args.tls_cert and not args.tls_key:
        if args.client_ca:
            raise ProvsimError("--client-ca needs --tls-cert and --tls-key")
        return None
    if not (args.tls_cert and args.tls_key):
        raise ProvsimError("--tls-cert and --tls-key go together")
    return TlsFiles(args.tls_cert, args.tls_key, args.client_ca)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the simulator, print where it listens, serve until SIGINT or SIGTERM."""
    args = _parser().parse_args(argv)
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    try:
        simulator = Simulator(
            args.profile,
            args.host,
            args.port,
            _tls(args),
            open_registration=args.open_registration,
            check_uscc_digit=not args.no_uscc_check_digit,
            access_key_ttl=args.access_key_ttl,
            record_path=args.record,
            public_url=args.public_url,
        )
        for spec in args.provision:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or not all(parts):
                raise ProvsimError(f"--provision {spec!r}: expected CODE:REGION[:PIN]")
            simulator.provision(*parts)
        simulator.start()
    except (ProvsimError, OSError) as exc:
        print(f"ems-provsim: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(
        f"ems-provsim: {simulator.profile.code} ({simulator.profile.name}) listening on "
        f"{simulator.base_url}, register at {simulator.register_url}",
        flush=True,
    )
    stopping.wait()
    simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

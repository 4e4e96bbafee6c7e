"""How fast the readings batch encodes and decodes: ``python bench/edge_wire.py``.

Target on the 2-core machine, batches of 500, signature excluded: encode
>= 1,000,000 readings/s and decode >= 500,000 readings/s. The codec is timed with
a stand-in key that does not sign; the Ed25519 cost (one sign or verify per batch)
is measured apart, and the signed rates are printed beside.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ems_edge.wire import decode_batch, encode_batch

START_MS = 1_767_225_600_000
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
Rows = list[tuple[int, str, int, float]]


class NoSignature:
    """Stands in for both keys so that the codec alone is timed."""

    def sign(self, data: bytes) -> bytes:
        return bytes(64)

    def verify(self, signature: bytes, data: bytes) -> None:
        pass


def poll_cycle(size: int) -> Rows:
    """One poll of ``size`` distinct points within a second, meter-like random values."""
    rng = random.Random(7)
    stamps = [START_MS + rng.randrange(0, 900) for _ in range(size)]
    values = [rng.uniform(0, 1e6) for _ in range(size)]
    return [(10_000 + i, f"m{i // 8:03d}.p{i % 8}", stamps[i], values[i]) for i in range(size)]


def backlog(size: int, points: int = 50) -> Rows:
    """A drained backlog: few points, 15-minute readings of slowly rising counters."""
    return [
        (
            10_000 + i,
            f"meter-{i % points}.energy",
            START_MS + (i // points) * 900_000,
            12345 + i / 4,
        )
        for i in range(size)
    ]


def per_second(action: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls per second: the best of five runs, which shrugs off a noisy neighbour."""
    best = 0.0
    for _ in range(5):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 5:
            action()
            count += 1
        best = max(best, count / elapsed)
    return best


def measure(rows: Rows, compress: bool, key: Any) -> tuple[int, float, float]:
    """Payload size, encode and decode rates (readings/s) with ``key`` signing and verifying."""
    verifier = key if isinstance(key, NoSignature) else key.public_key()
    payload = encode_batch("gw-bench", "0123456789abcdef", rows, START_MS, key, compress)
    encode = per_second(
        lambda: encode_batch("gw-bench", "0123456789abcdef", rows, START_MS, key, compress)
    )
    decode = per_second(lambda: decode_batch(payload, verifier))
    return len(payload), encode * len(rows), decode * len(rows)


def main() -> None:
    """Print the rates for each data shape, with and without zlib."""
    for name, rows in (("poll cycle", poll_cycle(500)), ("backlog", backlog(500))):
        for compress in (False, True):
            size, encode, decode = measure(rows, compress, NoSignature())
            _, signed_encode, signed_decode = measure(rows, compress, KEY)
            print(
                f"{name:10} zlib={compress!s:5} {size:6} B  encode {encode:>10,.0f}/s"
                f"  decode {decode:>10,.0f}/s  (signed: {signed_encode:>9,.0f}/s,"
                f" {signed_decode:>9,.0f}/s)"
            )
    body = encode_batch("gw-bench", "c", poll_cycle(500), START_MS, NoSignature(), False)  # type: ignore[arg-type]
    deflate = 1e6 / per_second(lambda: zlib.compress(body, 1))
    print(f"zlib level 1 over a {len(body)} B body: {deflate:.0f} us")
    signature = KEY.sign(body)
    sign = 1e6 / per_second(lambda: KEY.sign(body))
    verify = 1e6 / per_second(lambda: KEY.public_key().verify(signature, body))
    print(f"Ed25519 over {len(body)} B: sign {sign:.0f} us, verify {verify:.0f} us")


if __name__ == "__main__":
    main()

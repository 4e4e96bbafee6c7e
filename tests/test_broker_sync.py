"""Two registrations at once: the broker's files end up with both gateways.

Each registration renders the files from its own transaction. Without
serialisation the later render can run before the other's commit and write
files that leave that gateway out until the next change; ``sync_broker`` holds
an advisory lock until its transaction ends, so the second render waits and
then sees the first gateway committed.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from ems_tenants import gateways
from ems_tenants.models import Tenant


def _usernames(directory: Path) -> set[str]:
    text = (directory / "passwd").read_text(encoding="utf-8")
    return {line.split(":", 1)[0] for line in text.splitlines() if line}


def test_concurrent_registrations_both_reach_the_broker_files(
    database: Any, settings: Any, world: Any
) -> None:
    alpha = world.tenants["alpha"]
    first_name, second_name = (f"sync{uuid.uuid4().hex[:8]}" for _ in range(2))
    first = database.session()
    try:
        tenant = first.get(Tenant, alpha.id)
        gateways.register(first, tenant, {"name": first_name})
        gateways.sync_broker(first, settings)  # holds the lock until `first` ends

        done = threading.Event()
        errors: list[BaseException] = []

        def second() -> None:
            try:
                with database.transaction() as session:
                    other = session.get(Tenant, alpha.id)
                    gateways.register(session, other, {"name": second_name})
                    gateways.sync_broker(session, settings)
            except Exception as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(1.0), "the second render did not wait for the first transaction"
        first.commit()
    finally:
        first.close()
    thread.join(30)
    assert not errors, errors
    names = _usernames(settings.broker_dir)
    assert {f"{alpha.slug}-{first_name}", f"{alpha.slug}-{second_name}"} <= names


def test_a_stale_pid_file_naming_another_process_is_not_signalled(
    database: Any, settings: Any, tmp_path: Path
) -> None:
    """SIGHUP's default action terminates: a pid file left behind by a stopped broker,
    its number since reused, must not kill the process that has it now."""
    import dataclasses
    import subprocess

    bystander = subprocess.Popen(["sleep", "30"])
    try:
        pid_file = tmp_path / "mosquitto.pid"
        pid_file.write_text(f"{bystander.pid}\n")
        stale = dataclasses.replace(settings, broker_pid_file=str(pid_file))
        with database.transaction() as session:
            gateways.sync_broker(session, stale)
        assert bystander.poll() is None, "the bystander was signalled"
    finally:
        bystander.kill()
        bystander.wait()

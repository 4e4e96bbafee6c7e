"""The simulator's control API over HTTP, under ``/_sim/`` (for the one-machine run).

The same operations as :class:`ems_provsim.server.Simulator`'s methods::

    GET  /_sim/records | /_sim/infos | /_sim/meter-ledgers | /_sim/requests
    GET  /_sim/dictionaries            {"dicVersion", "items": {item: [...]}}
    GET  /_sim/accounts                [{"enterpriseCode", "region", "deviceId", "secretKey"}]
    POST /_sim/faults                  {"mode", "count"?, "delay"?}
    POST /_sim/provision               {"enterpriseCode", "region", "pin"?}
    POST /_sim/expire-keys
    POST /_sim/bump-dictionaries       {item: [entries], "remove": {item: [codes]}}  (or empty)
    POST /_sim/rekey                   {"enterpriseCode"} -> {"secretKey"}
    POST /_sim/reset

Answers are JSON (Decimals as strings, times as ISO 8601); a bad call answers 400
``{"error": ...}``. The control API is never faulted and needs no access key (with mTLS it
needs a client certificate like everything else on the server).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ems_provsim.protocol import Reply
from ems_provsim.state import to_json

if TYPE_CHECKING:
    from ems_provsim.server import Simulator


def _dictionaries(sim: Simulator) -> Any:
    return {"dicVersion": sim.dic_version, "items": sim.dictionaries()}


def _accounts(sim: Simulator) -> Any:
    accounts = sim.state.accounts_snapshot()
    return [
        {
            "enterpriseCode": a.enterprise_code,
            "region": a.region,
            "deviceId": a.device_id,
            "secretKey": a.secret_key,
        }
        for a in accounts
    ]


def _faults(sim: Simulator, body: dict[str, Any]) -> Any:
    sim.set_fault(str(body["mode"]), body.get("count"), float(body.get("delay", 1.0)))
    return {"ok": True}


def _provision(sim: Simulator, body: dict[str, Any]) -> Any:
    sim.provision(str(body["enterpriseCode"]), str(body["region"]), str(body.get("pin", "123456")))
    return {"ok": True}


def _expire_keys(sim: Simulator, body: dict[str, Any]) -> Any:
    sim.expire_access_keys()
    return {"ok": True}


def _bump(sim: Simulator, body: dict[str, Any]) -> Any:
    return {"ok": True, "dicVersion": sim.bump_dictionaries(body or None)}


def _rekey(sim: Simulator, body: dict[str, Any]) -> Any:
    return {"ok": True, "secretKey": sim.rekey(str(body["enterpriseCode"]))}


def _reset(sim: Simulator, body: dict[str, Any]) -> Any:
    sim.reset()
    return {"ok": True}


_GETS: dict[str, Callable[[Simulator], Any]] = {
    "/_sim/records": lambda sim: sim.records(),
    "/_sim/infos": lambda sim: sim.infos(),
    "/_sim/meter-ledgers": lambda sim: sim.meter_ledgers(),
    "/_sim/requests": lambda sim: sim.requests(),
    "/_sim/dictionaries": _dictionaries,
    "/_sim/accounts": _accounts,
}
_POSTS: dict[str, Callable[[Simulator, dict[str, Any]], Any]] = {
    "/_sim/faults": _faults,
    "/_sim/provision": _provision,
    "/_sim/expire-keys": _expire_keys,
    "/_sim/bump-dictionaries": _bump,
    "/_sim/rekey": _rekey,
    "/_sim/reset": _reset,
}


def handle(sim: Simulator, method: str, path: str, body: bytes) -> Reply:
    """Answer one control request."""
    if method == "GET" and path in _GETS:
        return _answer(200, _GETS[path](sim))
    if method == "POST" and path in _POSTS:
        try:
            payload = json.loads(body.decode("utf-8")) if body.strip() else {}
            if not isinstance(payload, dict):
                raise TypeError("the body must be a JSON object")
            return _answer(200, _POSTS[path](sim, payload))
        except (ValueError, TypeError, KeyError) as exc:
            return _answer(400, {"error": f"{type(exc).__name__}: {exc}"})
    if path in _GETS or path in _POSTS:
        return _answer(405, {"error": f"{method} not allowed on {path}"})
    return _answer(404, {"error": f"no control endpoint {path}"})


def _answer(status: int, value: Any) -> Reply:
    return Reply(status, json.dumps(to_json(value), ensure_ascii=False).encode("utf-8"))

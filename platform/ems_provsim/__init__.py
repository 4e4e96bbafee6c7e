"""ems_provsim: a simulated provincial energy monitoring platform (省级能耗在线监测平台).

A small, separate HTTP server that plays ONE province per instance, so the platform's upload
client can be tested, run on one machine and benchmarked without a real province. It does not
import ``ems``: it reads the same profile TOML files (``platform/ems/upload/profiles``) with
``tomllib`` and does its own crypto with ``cryptography``, so it is an independent second
implementation of the protocol and cross-checks the client rather than echoing it.

Use::

    from ems_provsim.server import Simulator
    with Simulator(profile="shandong") as sim:
        sim.provision("91330000573973053F", "330100")
        ...  # point the client at sim.register_url
        rows = sim.records()

or ``ems-provsim --profile national --port 8310`` (control over HTTP under ``/_sim/``, see
:mod:`ems_provsim.control`).

What is observed and what is simulated
--------------------------------------
Observed (public client code of Shandong, Anhui, Zhejiang, Tianjin, Yunnan; see
``upload-protocol.md``): the register -> version -> dictionary -> info/meters -> data flow, the
register reply's fields and URL names, the row fields and their codes, the 16-digit combined
code, the messages "解密失败！" and "序列号与企业统一社会信用代码不符", field encryption with the
secretKey, the Yunnan PIN block and bearer access key with success code "200", mTLS in Anhui.

Simulated (our choices, not any province's): the service paths (``loadDicVersion``,
``centerData``, ... under the register path's folder), every other message text, the failure
codes "1" / "500", the strictness rules (a whole batch refused for one bad row, decimals counted
as written, statDate alignment, upper-case hex, 500-row batches at most per the profile's
``batch_size``), the ``uploadTime`` spread over 01:00-05:59, and the code dictionaries in
``data/dictionaries.json``, which are SIMULATED test tables, not the official ones.

Faults (``Simulator.set_fault``; on every endpoint but register, for the next ``count``
requests or until cleared):

* ``"5xx"``: HTTP 503 with an HTML body, as a front proxy answers when the platform is down.
* ``"timeout"``: the connection is held ``delay`` seconds and then dropped without an answer.
  This plays a front proxy timing out before the platform saw the request: nothing is
  processed or recorded, so a client that resends does not create a duplicate.
* ``"decrypt"``: refused with "解密失败！" (as when the platform holds another secretKey).
* ``"device"``: refused with "序列号与企业统一社会信用代码不符".

Every request, faulted or not, is in ``Simulator.requests()`` with its outcome.
"""

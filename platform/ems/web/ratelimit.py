"""Per-tenant API rate limit from the tenant's plan, counted in Redis.

A fixed one-minute window per tenant (``INCR`` + ``EXPIRE``): cheap, shared by
every API process, and exact enough for a quota. If Redis is unreachable the
request is let through and the failure logged: a quota must not take the
platform down with it.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from redis.exceptions import RedisError

from ems.errors import RateLimited

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def check_rate(
    redis: Redis,
    key: str,
    limit: int,
    *,
    prefix: str = "ems:",
    now: float | None = None,
    count_this: bool = True,
) -> None:
    """Count one request against ``key``; ``RateLimited`` once past ``limit`` per minute.

    With ``count_this=False`` only checks that the limit is not already reached
    (for counting failures only, as logins do).
    """
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    name = f"{prefix}rate:{key}:{window}"
    try:
        if count_this:
            pipe = redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, WINDOW_SECONDS * 2)
            count = int(pipe.execute()[0])
        else:
            count = int(redis.get(name) or 0) + 1
    except RedisError:
        log.warning("rate limiter unavailable; request let through", exc_info=True)
        return
    if count > limit:
        retry_after = WINDOW_SECONDS - int(now % WINDOW_SECONDS)
        raise RateLimited(
            f"more than {limit} requests per minute; retry in {retry_after} s",
            retry_after=retry_after,
        )


def rate_limit(key: str, limit: int, *, count_this: bool = True) -> None:
    """``check_rate`` with the current app's Redis and key prefix."""
    from ems.web.state import state

    st = state()
    check_rate(st.redis, key, limit, prefix=st.settings.redis_prefix, count_this=count_this)

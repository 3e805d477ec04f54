"""memcached over MEMCACHED_SERVERS, with pymemcache's HashClient (Debian's python3-pymemcache).

Keys are spread over the nodes by rendezvous hashing, so every app server maps a key to the same
node, and losing a node moves only that node's keys. A dead or slow node is a miss, never an
error: ignore_exc turns its failures into misses, and after two failures it leaves the hash for
a few seconds.
"""

import json
import threading

from pymemcache.client.hash import HashClient

# 50 ms per operation, connect included: a healthy memcached answers on a LAN in well under a
# millisecond; a stalled node costs a request at most this (hastack's own ring uses the same).
TIMEOUT_S = 0.05
# Two failed operations within a second mark a node dead (one lost packet is not an outage)...
RETRY_ATTEMPTS = 2
RETRY_TIMEOUT_S = 1
# ...for 5 s, then it is tried again: a restarted memcached is back within a second.
DEAD_TIMEOUT_S = 5


class Cache:
    def __init__(self, servers, prefix: str = "py:"):
        self._servers = list(servers)
        self._prefix = prefix.encode()
        # HashClient is not thread-safe without its pool; one client per thread is simpler.
        self._local = threading.local()

    def _client(self):
        c = getattr(self._local, "client", None)
        if c is None:
            c = HashClient(
                self._servers,
                connect_timeout=TIMEOUT_S,
                timeout=TIMEOUT_S,
                ignore_exc=True,
                retry_attempts=RETRY_ATTEMPTS,
                retry_timeout=RETRY_TIMEOUT_S,
                dead_timeout=DEAD_TIMEOUT_S,
                key_prefix=self._prefix,
            )
            self._local.client = c
        return c

    def get_json(self, key: str):
        if not self._servers:
            return None
        try:
            raw = self._client().get(key)
        except Exception:  # noqa: BLE001 - the cache never fails a request (a bad node, a bad value: a miss)
            return None
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def set_json(self, key: str, value, ttl_s: int) -> None:
        if not self._servers:
            return
        try:
            self._client().set(key, json.dumps(value, separators=(",", ":")).encode(), expire=ttl_s, noreply=True)
        except Exception:  # noqa: BLE001 - a failed cache write is a later miss, nothing more
            pass

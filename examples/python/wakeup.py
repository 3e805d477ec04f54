"""Redis as the workers' doorbell, not as the job store.

A job's truth is its row in record_jobs, committed with the record. The app pushes the record id
on a Redis list after the commit so that a worker starts at once; the worker also sweeps the
database for jobs left pending. Redis replication is asynchronous: a push the old master took
just before it died may never reach the replica Sentinel promotes. That costs a job only its
head start (the sweep finds it), never the job itself.
"""

import logging

import redis

log = logging.getLogger("wakeup")

LIST = "py:jobs"
# A wake-up is best effort: 500 ms bounds what a dead Redis costs a write (the record is already committed).
TIMEOUT_S = 0.5


def connect(url: str):
    # No retry inside the client: the caller decides (the app gives up, the worker reconnects).
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S, health_check_interval=0)


def ring(r, record_id: int) -> bool:
    """Pushes the id; False when Redis did not take it (the sweep will find the job)."""
    for _ in range(2):
        # Twice: after a master switch the endpoint closed our pooled connection, and the first
        # command on it fails; the second opens a new one to the new master.
        try:
            r.lpush(LIST, record_id)
            return True
        except redis.RedisError as e:
            last = e
    log.warning("wake-up for record %s not queued (%s); the sweep will run its job", record_id, type(last).__name__)
    return False

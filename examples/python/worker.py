"""The background worker: completes each record's job, woken by Redis, backed by a database sweep.

    /usr/bin/python3 worker.py

Two sources of work, one completion:
  - the doorbell: BRPOP on the Redis list the app pushes record ids to (a job starts at once);
  - the sweep: every SWEEP_EVERY_S, jobs still pending after SWEEP_AFTER_S are taken from the
    database (a wake-up lost with a Redis master, or popped by a worker that then died).
Completing a job is a conditional UPDATE in one transaction, so a job found twice runs once.
SIGTERM (or SIGINT): the current job finishes, then the process exits 0 within about a second.
With WORKER_HEALTH_PORT set (running it by hand), GET /healthz on $HOST:$WORKER_HEALTH_PORT answers
200 while the loop is turning; under hastack the worker service answers /healthz itself.
"""

import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import redis

import contract
import store
import wakeup

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
log = logging.getLogger("worker")

# BRPOP blocks at most 1 s: the bound on how long SIGTERM waits and how late a sweep starts.
POP_TIMEOUT_S = 1
# The sweep: every 2 s, jobs pending for over 3 s (a healthy doorbell completes a job within
# milliseconds, so a job that old missed its wake-up). 100 per round bounds one round's time.
SWEEP_EVERY_S = 2.0
SWEEP_AFTER_S = 3.0
SWEEP_BATCH = 100
# After a Redis or database error: a short pause before trying again (the endpoints move in seconds).
ERROR_PAUSE_S = 0.5
# /healthz says unhealthy when the loop has not turned for this long (a hung worker).
STALE_AFTER_S = 15.0


class Worker:
    def __init__(self, c: contract.Contract):
        self.c = c
        self.db = store.Db(c.writer, c.reader)
        # BRPOP needs a socket timeout above its own block time.
        self.redis = redis.Redis.from_url(c.redis_url, socket_timeout=POP_TIMEOUT_S + 2, socket_connect_timeout=1, health_check_interval=0)
        self.stopping = threading.Event()
        self.last_turn = time.monotonic()
        self.done = {"queue": 0, "sweep": 0}

    def complete(self, record_id: int, via: str) -> None:
        try:
            if store.complete_job(self.db, record_id, self.c.node, via):
                self.done[via] += 1
        except store.Unavailable as e:
            # Still pending in the database: the sweep takes it once the writer answers again.
            log.warning("job %s not completed now (%s); the sweep will retry it", record_id, e)

    def pop(self):
        try:
            got = self.redis.brpop(wakeup.LIST, timeout=POP_TIMEOUT_S)
        except redis.RedisError as e:
            log.warning("redis: %s; retrying (jobs keep being swept from the database)", type(e).__name__)
            self.stopping.wait(ERROR_PAUSE_S)
            return None
        if got is None:
            return None
        raw = got[1]
        try:
            return int(raw)
        except ValueError:
            log.warning("ignoring a malformed wake-up %r", raw[:32])
            return None

    def sweep(self) -> None:
        try:
            ids = store.pending_jobs(self.db, SWEEP_AFTER_S, SWEEP_BATCH)
        except store.Unavailable as e:
            log.warning("sweep skipped: %s", e)
            return
        if ids:
            log.info("sweep: %d pending job(s)", len(ids))
        for rid in ids:
            if self.stopping.is_set():
                return
            self.complete(rid, "sweep")

    def run(self) -> None:
        next_sweep = time.monotonic()
        while not self.stopping.is_set():
            self.last_turn = time.monotonic()
            rid = self.pop()
            if rid is not None:
                self.complete(rid, "queue")
            if time.monotonic() >= next_sweep:
                self.sweep()
                next_sweep = time.monotonic() + SWEEP_EVERY_S
        log.info("stopped: %d job(s) completed from the queue, %d by the sweep", self.done["queue"], self.done["sweep"])
        self.db.close()
        self.redis.close()


def serve_health(w: Worker, host: str, port: int) -> HTTPServer:
    class Handler(BaseHTTPRequestHandler):
        # One probe at a time, each cut after 2 s: a client that stalls cannot pile up threads.
        timeout = 2

        def do_GET(self):  # noqa: N802 - the name http.server calls
            ok = self.path == "/healthz" and time.monotonic() - w.last_turn < STALE_AFTER_S
            body = b'{"ok":true}' if ok else b'{"ok":false}'
            self.send_response(200 if ok else (404 if self.path != "/healthz" else 503))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # the supervisor probes every second: no line per probe
            pass

    srv = HTTPServer((host, port), Handler)
    threading.Thread(target=srv.serve_forever, name="health", daemon=True).start()
    return srv


def main() -> int:
    try:
        c = contract.load(dict(os.environ))
    except contract.ContractError as e:
        log.error("%s", e)
        return 2
    w = Worker(c)
    signal.signal(signal.SIGTERM, lambda *_: w.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: w.stopping.set())
    health_port = os.environ.get("WORKER_HEALTH_PORT")
    srv = serve_health(w, c.host, int(health_port)) if health_port else None
    log.info("worker on node %s: %r", c.node, c)
    w.run()
    if srv is not None:
        srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

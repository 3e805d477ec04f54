"""A small WSGI app on hastack's environment contract (served by Debian's gunicorn).

    GET  /healthz            liveness and readiness for the load balancer (no dependency checked)
    POST /records            {"data": "..."} with an Idempotency-Key header: 201 new, 200 a retry
    GET  /records/<id>       one record (memcached, then the read endpoint, then the writer)
    GET  /records?key=<key>  the record written under an idempotency key
    GET  /records            the 20 newest records (read endpoint, cached 1 s)
"""

import json
import logging
import os
import re
from urllib.parse import parse_qs

import cache
import contract
import store
import validate
import wakeup

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("app")

C = contract.load(dict(os.environ))
DB = store.Db(C.writer, C.reader)
CACHE = cache.Cache(C.memcached)
REDIS = wakeup.connect(C.redis_url)
log.info("starting on %s:%s (node %s): %r", C.host, C.port, C.node, C)

# A record whose job is done never changes again: cached for 5 minutes. A pending one is not
# cached (its status moves), so the cache never serves a stale status.
RECORD_TTL_S = 300
# The recent list moves with every write: 1 s of staleness, in exchange for one query a second per node.
RECENT_TTL_S = 1
RECENT_LIMIT = 20
ID_PATH = re.compile(r"^/records/([^/]+)$")

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def respond(start_response, status: int, doc, headers=()):
    body = json.dumps(doc, separators=(",", ":")).encode()
    start_response(
        f"{status} {STATUS_TEXT.get(status, 'Status')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Cache-Control", "no-store"), *headers],
    )
    return [body]


def error(start_response, status: int, code: str, message: str, headers=()):
    return respond(start_response, status, {"error": {"code": code, "message": message}}, headers)


def read_body(environ) -> bytes:
    n = validate.content_length(environ)
    body = environ["wsgi.input"].read(n) if n > 0 else b""
    if len(body) != n:
        raise validate.BadRequest(400, "SHORT_BODY", "the body ended before its Content-Length")
    return body


def create(environ, start_response):
    key = validate.idempotency_key(environ)
    data = validate.record_body(environ, read_body(environ))
    try:
        rec, created = store.create_record(DB, key, data, validate.request_hash(data))
    except store.KeyReused:
        return error(start_response, 409, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used for other data; use a new key for a new record")
    # Committed: the job is durable in the database whatever Redis does next.
    woke = wakeup.ring(REDIS, rec["id"]) if created else None
    doc = {**rec, "job": "queued"}
    if woke is not None:
        doc["wake"] = woke
    return respond(start_response, 201 if created else 200, doc, [("Location", f"/records/{rec['id']}")])


def read_one(start_response, by: str, arg, cache_key):
    if cache_key is not None:
        hit = CACHE.get_json(cache_key)
        if hit is not None:
            return respond(start_response, 200, hit, [("X-Read-From", "cache")])
    rec, source = store.get_record(DB, by, arg)
    if rec is None:
        return error(start_response, 404, "NOT_FOUND", "no such record")
    if rec["status"] == "done":
        CACHE.set_json(f"rec:{rec['id']}", rec, RECORD_TTL_S)
    return respond(start_response, 200, rec, [("X-Read-From", source)])


def list_recent(start_response):
    hit = CACHE.get_json("recent")
    if hit is not None:
        return respond(start_response, 200, {"records": hit}, [("X-Read-From", "cache")])
    rows = store.recent(DB, RECENT_LIMIT)
    CACHE.set_json("recent", rows, RECENT_TTL_S)
    return respond(start_response, 200, {"records": rows}, [("X-Read-From", "replica")])


def route(environ, start_response):
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    if path == "/healthz":
        # Never a dependency check: every app server shares the same database and Redis, so a
        # check of theirs would take every app server out of the load balancers at once.
        return respond(start_response, 200, {"ok": True, "node": C.node})
    if path == "/records":
        if method == "POST":
            return create(environ, start_response)
        if method == "GET":
            try:
                params = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=4)
            except ValueError:
                raise validate.BadRequest(400, "BAD_QUERY", "too many query parameters") from None
            if "key" in params:
                key = params["key"][0]
                if not validate.KEY_RE.match(key):
                    raise validate.BadRequest(400, "BAD_IDEMPOTENCY_KEY", "key must be 1-128 characters of A-Z a-z 0-9 . _ : -")
                return read_one(start_response, "key", key, None)
            return list_recent(start_response)
        return error(start_response, 405, "METHOD_NOT_ALLOWED", "use GET or POST on /records", [("Allow", "GET, POST")])
    m = ID_PATH.match(path)
    if m:
        if method != "GET":
            return error(start_response, 405, "METHOD_NOT_ALLOWED", "use GET on /records/<id>", [("Allow", "GET")])
        rid = validate.record_id(m.group(1))
        return read_one(start_response, "id", rid, f"rec:{rid}")
    return error(start_response, 404, "NOT_FOUND", f"no route {method} {path}")


def application(environ, start_response):
    try:
        return route(environ, start_response)
    except validate.BadRequest as e:
        return error(start_response, e.status, e.code, e.message)
    except store.Unavailable as e:
        log.warning("%s %s: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), e)
        # Retry-After: the writer switch behind the endpoint takes a few seconds.
        return error(start_response, 503, "UNAVAILABLE", "the database did not answer in time; retry (with the same Idempotency-Key)", [("Retry-After", "1")])
    except Exception:  # noqa: BLE001 - the last line of defence: a 500 and a log, never a dropped connection
        log.exception("%s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
        return error(start_response, 500, "INTERNAL", "internal error")

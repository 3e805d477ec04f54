"""The database side: records, their jobs (a transactional outbox), reads through the read endpoint.

Connections go to the contract's endpoints only (DATABASE_URL for writes, DATABASE_READ_URL for
reads). When a writer dies or moves, the endpoint closes our connections: the next statement
fails with a connection error, and `run` reconnects and runs the whole transaction again within
a bounded budget. Running it again is safe because every write here is idempotent: a record is
UNIQUE by its idempotency key, and a job is completed by a conditional UPDATE.
"""

import logging
import threading
import time

import pymysql

log = logging.getLogger("store")

# Per statement: a healthy endpoint answers in milliseconds; 4 s stays below the chaos client's
# 5 s per attempt, so a stuck statement turns into a 503 the client retries, not a hung request.
READ_TIMEOUT_S = 4
CONNECT_TIMEOUT_S = 2
# The whole operation, reconnects included: long enough to ride out a writer switch behind the
# endpoint (about 3 s for a Galera writer kill), short enough to answer before the client gives up.
DEADLINE_S = 4.5

# Errors after which the same transaction may succeed on a fresh connection: the connection was
# lost or refused (2002/2003/2006/2013, pymysql's 0 for a closed socket), the server is going away
# (1053, 1927), a Galera certification conflict or lock timeout (1213, 1205), a node not ready
# (1047 WSREP has not yet prepared node), a writer that turned read-only under us (1290, 1836), or
# a fenced primary refusing the app's connections (1203, max_user_connections=-1).
RETRYABLE = {0, 1047, 1053, 1203, 1205, 1213, 1290, 1836, 1927, 2002, 2003, 2006, 2013, 2014, 2055, 4031}
DUPLICATE_KEY = 1062


class Unavailable(Exception):
    """The database did not answer within the budget: the request is answered 503 (retry it)."""


class KeyReused(Exception):
    """The idempotency key was used before for other data: a different write, refused (409)."""


def _errno(e: BaseException) -> int:
    args = getattr(e, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


def retryable(e: BaseException) -> bool:
    if isinstance(e, (pymysql.err.OperationalError, pymysql.err.InterfaceError, pymysql.err.InternalError)):
        return _errno(e) in RETRYABLE
    return isinstance(e, (OSError, EOFError))


class Db:
    """One writer and one reader connection per thread (gunicorn's gthread workers, the worker's loop)."""

    def __init__(self, writer, reader):
        self._targets = {"writer": writer, "reader": reader}
        self._local = threading.local()

    def _connect(self, which: str):
        t = self._targets[which]
        return pymysql.connect(
            host=t.host,
            port=t.port,
            user=t.user,
            password=t.password,
            database=t.database,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            write_timeout=READ_TIMEOUT_S,
            cursorclass=pymysql.cursors.DictCursor,
        )

    def _drop(self, which: str) -> None:
        conn = getattr(self._local, which, None)
        setattr(self._local, which, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail any way; it is gone either way
                pass

    def run(self, which: str, fn, deadline_s: float = DEADLINE_S):
        """fn(conn) on the writer or reader, again on a fresh connection after a retryable error."""
        end = time.monotonic() + deadline_s
        delay = 0.05
        last = None
        while True:
            try:
                conn = getattr(self._local, which, None)
                if conn is None:
                    conn = self._connect(which)
                    setattr(self._local, which, conn)
                return fn(conn)
            except (pymysql.err.MySQLError, OSError, EOFError) as e:
                if not retryable(e):
                    self._drop_tx(which)
                    raise
                last = e
                self._drop(which)
            if time.monotonic() + delay > end:
                raise Unavailable(f"database ({which}) unavailable: {last}")
            time.sleep(delay)
            # Capped backoff: 50 ms doubling to 800 ms, about 8 tries in the budget.
            delay = min(0.8, delay * 2)

    def _drop_tx(self, which: str) -> None:
        """After an error we do not retry, leave no half transaction on the kept connection."""
        conn = getattr(self._local, which, None)
        if conn is not None:
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001 - a connection that cannot roll back is dropped
                self._drop(which)

    def close(self) -> None:
        self._drop("writer")
        self._drop("reader")


RECORD_COLUMNS = "r.id, r.idem_key, r.request_hash, r.data, r.result, r.created_at, j.status"


def _public(row) -> dict:
    return {
        "id": int(row["id"]),
        "key": row["idem_key"],
        "data": row["data"],
        "status": row["status"] or "pending",
        "result": row["result"],
        "createdAt": row["created_at"].isoformat() if row["created_at"] is not None else None,
    }


def create_record(db: Db, key: str, data: str, rhash: str):
    """(record, created): one record and its pending job in one transaction, once per key."""

    def tx(conn):
        with conn.cursor() as cur:
            try:
                cur.execute("INSERT INTO records (idem_key, request_hash, data) VALUES (%s, %s, %s)", (key, rhash, data))
            except pymysql.err.IntegrityError as e:
                if _errno(e) != DUPLICATE_KEY:
                    raise
                conn.rollback()
                # A retry of an earlier write (perhaps one whose answer was lost): its record, read
                # on the writer, where it is certainly visible.
                cur.execute(f"SELECT {RECORD_COLUMNS} FROM records r LEFT JOIN record_jobs j ON j.record_id = r.id WHERE r.idem_key = %s", (key,))
                row = cur.fetchone()
                conn.commit()
                if row is None:
                    raise Unavailable("the record of this key was not found after a duplicate-key error") from None
                if row["request_hash"] != rhash:
                    raise KeyReused(key) from None
                return _public(row), False
            rid = cur.lastrowid
            # The outbox: the job is durable exactly when the record is (same transaction).
            cur.execute("INSERT INTO record_jobs (record_id) VALUES (%s)", (rid,))
            cur.execute(f"SELECT {RECORD_COLUMNS} FROM records r JOIN record_jobs j ON j.record_id = r.id WHERE r.id = %s", (rid,))
            row = cur.fetchone()
        conn.commit()
        return _public(row), True

    return db.run("writer", tx)


# The only ways a record is looked up: no caller's text ever reaches the SQL.
_LOOKUPS = {"id": "r.id = %s", "key": "r.idem_key = %s"}


def _select_one(db: Db, which: str, by: str, arg):
    where = _LOOKUPS[by]

    def q(conn):
        with conn.cursor() as cur:
            cur.execute(f"SELECT {RECORD_COLUMNS} FROM records r LEFT JOIN record_jobs j ON j.record_id = r.id WHERE {where}", (arg,))
            row = cur.fetchone()
        conn.commit()
        return None if row is None else _public(row)

    return db.run(which, q)


def get_record(db: Db, by: str, arg):
    """(record or None, where it was read): the read endpoint first; the writer when the reader
    has not got it yet (a client reading the id it was just given must find it: read-your-writes)."""
    row = _select_one(db, "reader", by, arg)
    if row is not None:
        return row, "replica"
    return _select_one(db, "writer", by, arg), "writer"


def recent(db: Db, limit: int):
    def q(conn):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT r.id, r.idem_key, j.status FROM records r LEFT JOIN record_jobs j ON j.record_id = r.id ORDER BY r.id DESC LIMIT %s",
                (limit,),
            )
            rows = cur.fetchall()
        conn.commit()
        return [{"id": int(r["id"]), "key": r["idem_key"], "status": r["status"] or "pending"} for r in rows]

    return db.run("reader", q)


def pending_jobs(db: Db, older_than_s: float, limit: int):
    """Jobs still pending after `older_than_s`: the sweep's work (their wake-up may have been lost)."""

    def q(conn):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT record_id FROM record_jobs WHERE status = 'pending' AND created_at < NOW(6) - INTERVAL %s MICROSECOND ORDER BY created_at LIMIT %s",
                (int(older_than_s * 1_000_000), limit),
            )
            rows = cur.fetchall()
        conn.commit()
        return [int(r["record_id"]) for r in rows]

    # On the writer: a lagging reader could show a job pending that is done (harmless) or hide one.
    return db.run("writer", q)


def complete_job(db: Db, record_id: int, node: str, via: str) -> bool:
    """Does the job's work and marks it done, once: False when it was done already (or unknown)."""

    def tx(conn):
        with conn.cursor() as cur:
            # The work: a digest of the record's data, written in the same transaction as the
            # completion. The conditional UPDATE makes a second run (a duplicate wake-up, the sweep
            # racing the queue, another worker) change nothing.
            cur.execute(
                "UPDATE record_jobs SET status = 'done', runs = runs + 1, via = %s, done_by = %s, done_at = NOW(6) WHERE record_id = %s AND status = 'pending'",
                (via, node[:64], record_id),
            )
            if cur.rowcount != 1:
                conn.rollback()
                return False
            cur.execute("UPDATE records SET result = SHA2(data, 256) WHERE id = %s", (record_id,))
        conn.commit()
        return True

    return db.run("writer", tx)


def ping(db: Db, which: str, deadline_s: float = 1.0) -> bool:
    def q(conn):
        conn.ping(reconnect=False)
        return True

    try:
        return db.run(which, q, deadline_s)
    except (Unavailable, pymysql.err.MySQLError):
        return False

"""The schema, applied once per `hastack up`/`deploy` (app.migrate; hastack runs it under a lock).

    /usr/bin/python3 migrate.py

Append-only: a new change is a new entry at the end of MIGRATIONS, never an edit of an applied
one. Each entry is applied once (schema_migrations remembers it); every statement is also safe
to run twice, since MariaDB commits DDL at once and a migration cut short is re-run whole.
"""

import logging
import os
import sys
import time

import pymysql

import contract
import store

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s migrate: %(message)s", stream=sys.stderr)
log = logging.getLogger("migrate")

MIGRATIONS = [
    (
        1,
        "records and their jobs (the outbox)",
        [
            """CREATE TABLE IF NOT EXISTS records (
                 id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                 idem_key VARCHAR(128) NOT NULL,
                 request_hash CHAR(64) NOT NULL,
                 data MEDIUMTEXT NOT NULL,
                 result CHAR(64) NULL,
                 created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                 UNIQUE KEY uq_records_idem_key (idem_key)
               ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
            """CREATE TABLE IF NOT EXISTS record_jobs (
                 record_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
                 status ENUM('pending', 'done') NOT NULL DEFAULT 'pending',
                 runs INT UNSIGNED NOT NULL DEFAULT 0,
                 via VARCHAR(8) NULL,
                 done_by VARCHAR(64) NULL,
                 created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                 done_at DATETIME(6) NULL,
                 KEY ix_record_jobs_pending (status, created_at)
               ) ENGINE=InnoDB""",
        ],
    ),
    (
        2,
        "the record the crash plan's check replays (failover.verify in hastack.yaml)",
        [
            # `hastack failover` ends with POST /records under this key and expects 200: a replay,
            # answered only once the writer endpoint reaches a writable node that has the record.
            """INSERT IGNORE INTO records (idem_key, request_hash, data)
               VALUES ('hastack-failover-verify', SHA2('hastack failover verify', 256), 'hastack failover verify')""",
            """INSERT IGNORE INTO record_jobs (record_id, status, runs, via)
               SELECT id, 'done', 1, 'seed' FROM records WHERE idem_key = 'hastack-failover-verify'""",
        ],
    ),
]

# The database may still be electing a writer when `up` runs this: keep trying for 60 s.
CONNECT_BUDGET_S = 60


def apply(db: store.Db) -> int:
    def tx(conn):
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INT UNSIGNED NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))")
            cur.execute("SELECT version FROM schema_migrations")
            done = {int(r["version"]) for r in cur.fetchall()}
            applied = 0
            for version, what, statements in MIGRATIONS:
                if version in done:
                    continue
                log.info("applying %d: %s", version, what)
                for sql in statements:
                    cur.execute(sql)
                cur.execute("INSERT IGNORE INTO schema_migrations (version) VALUES (%s)", (version,))
                conn.commit()
                applied += 1
        conn.commit()
        return applied

    return db.run("writer", tx, deadline_s=CONNECT_BUDGET_S)


def main() -> int:
    try:
        c = contract.load(dict(os.environ))
    except contract.ContractError as e:
        log.error("%s", e)
        return 2
    db = store.Db(c.writer, c.reader)
    started = time.monotonic()
    try:
        n = apply(db)
    except (store.Unavailable, pymysql.err.MySQLError) as e:
        log.error("failed: %s", e)
        return 1
    finally:
        db.close()
    log.info("%d migration(s) applied, schema at version %d (%.1f s)", n, MIGRATIONS[-1][0], time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())

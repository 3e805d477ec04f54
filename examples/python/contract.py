"""hastack's environment contract, read once: where the database, Redis and memcached are.

The app knows nothing else about the cluster. DATABASE_URL is the local writer endpoint,
DATABASE_READ_URL the local read endpoint, REDIS_URL the local Redis endpoint (each always
points at the current writer, readers, master); MEMCACHED_SERVERS lists every memcached node.
No Sentinel, failover or cluster logic lives in this app: the endpoints are that logic.
"""

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class ContractError(Exception):
    """A variable of the environment contract is missing or malformed (the process cannot start)."""


@dataclass(frozen=True)
class DbTarget:
    host: str
    port: int
    user: str
    password: str = ""
    database: str = ""

    def __repr__(self) -> str:
        # Never print the password (a traceback or a log line may show this object).
        return f"DbTarget({self.user}@{self.host}:{self.port}/{self.database})"


@dataclass(frozen=True)
class Contract:
    writer: DbTarget
    reader: DbTarget
    redis_url: str
    memcached: tuple
    node: str
    host: str
    port: int

    def __repr__(self) -> str:
        return f"Contract(writer={self.writer!r}, reader={self.reader!r}, memcached={self.memcached}, node={self.node})"


def parse_db_url(url: str, what: str) -> DbTarget:
    """mysql://USER:PASSWORD@HOST:PORT/DBNAME (user and password percent-encoded)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb"):
        raise ContractError(f"{what} must be a mysql:// URL, got scheme {parts.scheme!r}")
    if not parts.hostname or parts.username is None:
        raise ContractError(f"{what} must name a user and a host (mysql://user:password@host:port/db)")
    try:
        port = parts.port or 3306
    except ValueError as e:
        raise ContractError(f"{what} has a bad port: {e}") from None
    return DbTarget(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.lstrip("/")),
    )


def parse_servers(value: str, what: str = "MEMCACHED_SERVERS") -> tuple:
    """host:port,host:port -> ((host, port), ...), in the order given (every node gets the same list)."""
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ContractError(f"{what}: {item!r} is not host:port")
        out.append((host, int(port)))
    return tuple(out)


def _db_from_parts(env: dict, port_key: str) -> DbTarget:
    missing = [k for k in ("DB_HOST", port_key, "DB_USER", "DB_NAME") if not env.get(k)]
    if missing:
        raise ContractError(f"set DATABASE_URL (or {', '.join(missing)})")
    return DbTarget(env["DB_HOST"], int(env[port_key]), env["DB_USER"], env.get("DB_PASSWORD", ""), env["DB_NAME"])


def load(env: dict) -> Contract:
    """The contract from a process environment; ContractError names what is missing."""
    writer = parse_db_url(env["DATABASE_URL"], "DATABASE_URL") if env.get("DATABASE_URL") else _db_from_parts(env, "DB_PORT")
    if env.get("DATABASE_READ_URL"):
        reader = parse_db_url(env["DATABASE_READ_URL"], "DATABASE_READ_URL")
    elif env.get("DB_READ_PORT"):
        reader = _db_from_parts(env, "DB_READ_PORT")
    else:
        # No read endpoint: reads go to the writer (correct, just not spread).
        reader = writer
    redis_url = env.get("REDIS_URL", "")
    if not redis_url.startswith(("redis://", "rediss://")):
        raise ContractError("set REDIS_URL (redis://[:password@]host:port[/db])")
    return Contract(
        writer=writer,
        reader=reader,
        redis_url=redis_url,
        memcached=parse_servers(env.get("MEMCACHED_SERVERS", "")),
        node=env.get("HASTACK_NODE", "local"),
        host=env.get("HOST", "127.0.0.1"),
        port=int(env.get("PORT", "8000")),
    )

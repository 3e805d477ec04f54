"""Pure request parsing: every bad input is a BadRequest with an HTTP status and a stable code."""

import hashlib
import json
import re

# 64 KiB per request body: a record is a small JSON document; anything bigger is refused (413)
# before it is read, so a client cannot make an app server buffer megabytes.
MAX_BODY_BYTES = 64 * 1024
# 16 KiB of record data once parsed (the column is a MEDIUMTEXT; this keeps rows and cache values small).
MAX_DATA_CHARS = 16 * 1024
# Idempotency keys: what a client can generate (a UUID, a ULID, "order-42-retry"), no spaces or
# quotes, short enough for a UNIQUE index.
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def content_length(environ: dict) -> int:
    """The declared body length; 411 without one (no chunked uploads), 413 above the bound."""
    raw = environ.get("CONTENT_LENGTH") or ""
    if raw == "":
        if environ.get("HTTP_TRANSFER_ENCODING"):
            raise BadRequest(411, "LENGTH_REQUIRED", "send the body with a Content-Length (chunked bodies are not accepted)")
        return 0
    if not raw.isdigit():
        raise BadRequest(400, "BAD_CONTENT_LENGTH", "Content-Length must be a number")
    n = int(raw)
    if n > MAX_BODY_BYTES:
        raise BadRequest(413, "BODY_TOO_LARGE", f"the body is {n} bytes; at most {MAX_BODY_BYTES} are accepted")
    return n


def idempotency_key(environ: dict) -> str:
    key = (environ.get("HTTP_IDEMPOTENCY_KEY") or "").strip()
    if key == "":
        raise BadRequest(400, "IDEMPOTENCY_KEY_REQUIRED", "send an Idempotency-Key header (the same one on every retry of this write)")
    if not KEY_RE.match(key):
        raise BadRequest(400, "BAD_IDEMPOTENCY_KEY", "Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    return key


def record_body(environ: dict, body: bytes) -> str:
    """The `data` field of a JSON object body, as a string."""
    ctype = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise BadRequest(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, "BAD_JSON", "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest(400, "BAD_BODY", 'the body must be a JSON object like {"data": "..."}')
    data = doc.get("data")
    if not isinstance(data, str):
        raise BadRequest(400, "BAD_DATA", "data must be a string")
    if len(data) > MAX_DATA_CHARS:
        raise BadRequest(413, "DATA_TOO_LARGE", f"data is {len(data)} characters; at most {MAX_DATA_CHARS}")
    return data


def record_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(400, "BAD_ID", "a record id is a positive whole number")
    n = int(raw)
    if n < 1:
        raise BadRequest(400, "BAD_ID", "a record id is a positive whole number")
    return n


def request_hash(data: str) -> str:
    """What a retry must repeat: the same key with other data is a different write (409)."""
    return hashlib.sha256(data.encode("utf-8")).hexdigest()

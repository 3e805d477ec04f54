"""Unit tests of the pure parts (no engine): /usr/bin/python3 -m unittest (in this folder)."""

import unittest

import contract
import validate


class ContractTest(unittest.TestCase):
    def env(self, **extra):
        base = {
            "DATABASE_URL": "mysql://hastack:p%40ss%3Aw%2Fd@127.0.12.3:6033/app",
            "DATABASE_READ_URL": "mysql://hastack:p%40ss%3Aw%2Fd@127.0.12.3:6034/app",
            "REDIS_URL": "redis://:secret@127.0.12.3:6380/0",
            "MEMCACHED_SERVERS": "127.0.12.8:11211,127.0.12.9:11211",
            "HOST": "127.0.12.3",
            "PORT": "8000",
            "HASTACK_NODE": "app1",
        }
        base.update(extra)
        return base

    def test_urls_are_decoded(self):
        c = contract.load(self.env())
        self.assertEqual((c.writer.host, c.writer.port, c.writer.user, c.writer.password, c.writer.database), ("127.0.12.3", 6033, "hastack", "p@ss:w/d", "app"))
        self.assertEqual(c.reader.port, 6034)
        self.assertEqual(c.memcached, (("127.0.12.8", 11211), ("127.0.12.9", 11211)))
        self.assertEqual((c.node, c.host, c.port), ("app1", "127.0.12.3", 8000))

    def test_the_password_is_never_in_repr(self):
        c = contract.load(self.env())
        self.assertNotIn("p@ss", repr(c))
        self.assertNotIn("secret", repr(c))

    def test_parts_when_no_url(self):
        env = self.env(DATABASE_URL="", DATABASE_READ_URL="", DB_HOST="h", DB_PORT="6033", DB_READ_PORT="6034", DB_USER="u", DB_PASSWORD="p", DB_NAME="d")
        c = contract.load(env)
        self.assertEqual((c.writer.port, c.reader.port), (6033, 6034))

    def test_no_read_url_reads_from_the_writer(self):
        c = contract.load(self.env(DATABASE_READ_URL=""))
        self.assertEqual(c.reader, c.writer)

    def test_missing_or_bad_values_are_named(self):
        with self.assertRaisesRegex(contract.ContractError, "DATABASE_URL"):
            contract.load(self.env(DATABASE_URL=""))
        with self.assertRaisesRegex(contract.ContractError, "REDIS_URL"):
            contract.load(self.env(REDIS_URL=""))
        with self.assertRaisesRegex(contract.ContractError, "mysql://"):
            contract.load(self.env(DATABASE_URL="postgres://u@h/d"))
        with self.assertRaisesRegex(contract.ContractError, "MEMCACHED_SERVERS"):
            contract.load(self.env(MEMCACHED_SERVERS="nohostport"))

    def test_no_memcached_is_an_empty_ring(self):
        self.assertEqual(contract.load(self.env(MEMCACHED_SERVERS="")).memcached, ())


class ValidateTest(unittest.TestCase):
    def code(self, fn, *args):
        with self.assertRaises(validate.BadRequest) as cm:
            fn(*args)
        return cm.exception.status, cm.exception.code

    def test_content_length(self):
        self.assertEqual(validate.content_length({"CONTENT_LENGTH": "10"}), 10)
        self.assertEqual(validate.content_length({}), 0)
        self.assertEqual(self.code(validate.content_length, {"CONTENT_LENGTH": str(validate.MAX_BODY_BYTES + 1)}), (413, "BODY_TOO_LARGE"))
        self.assertEqual(self.code(validate.content_length, {"CONTENT_LENGTH": "-1"}), (400, "BAD_CONTENT_LENGTH"))
        self.assertEqual(self.code(validate.content_length, {"HTTP_TRANSFER_ENCODING": "chunked"}), (411, "LENGTH_REQUIRED"))

    def test_idempotency_key(self):
        self.assertEqual(validate.idempotency_key({"HTTP_IDEMPOTENCY_KEY": " order-42:retry_1.a "}), "order-42:retry_1.a")
        self.assertEqual(self.code(validate.idempotency_key, {}), (400, "IDEMPOTENCY_KEY_REQUIRED"))
        for bad in ("has space", "x" * 129, "quote'", "é"):
            self.assertEqual(self.code(validate.idempotency_key, {"HTTP_IDEMPOTENCY_KEY": bad}), (400, "BAD_IDEMPOTENCY_KEY"), bad)

    def test_record_body(self):
        ok = {"CONTENT_TYPE": "application/json; charset=utf-8"}
        self.assertEqual(validate.record_body(ok, b'{"data": "x"}'), "x")
        self.assertEqual(self.code(validate.record_body, {"CONTENT_TYPE": "text/plain"}, b'{"data":"x"}'), (415, "UNSUPPORTED_MEDIA_TYPE"))
        self.assertEqual(self.code(validate.record_body, ok, b'{"data":'), (400, "BAD_JSON"))
        self.assertEqual(self.code(validate.record_body, ok, b"\xff"), (400, "BAD_JSON"))
        self.assertEqual(self.code(validate.record_body, ok, b"[1]"), (400, "BAD_BODY"))
        self.assertEqual(self.code(validate.record_body, ok, b'{"data": 1}'), (400, "BAD_DATA"))
        big = ('{"data": "' + "x" * (validate.MAX_DATA_CHARS + 1) + '"}').encode()
        self.assertEqual(self.code(validate.record_body, ok, big), (413, "DATA_TOO_LARGE"))

    def test_record_id(self):
        self.assertEqual(validate.record_id("42"), 42)
        for bad in ("0", "abc", "-1", "1" * 19, ""):
            self.assertEqual(self.code(validate.record_id, bad), (400, "BAD_ID"), bad)

    def test_request_hash_is_sha256_hex(self):
        self.assertEqual(validate.request_hash("hastack failover verify"), __import__("hashlib").sha256(b"hastack failover verify").hexdigest())


if __name__ == "__main__":
    unittest.main()

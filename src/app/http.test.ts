import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { defineApp, HttpError, respond, type AppContext } from './contract.js';
import { buildHttpServer, clientAddressOf, secureOf, type AppFastify, type ServingState } from './http.js';
import type { ReadinessReport } from './readiness.js';

// The HTTP layer alone: a stand-in runtime (no engines), requests through Fastify's inject.
const app = defineApp({
  name: 'httptest',
  routes: [
    { method: 'GET', url: '/hello/:name', handler: (req) => ({ hello: req.params.name, q: req.query.x ?? null }) },
    { method: 'POST', url: '/echo', handler: (req) => respond(201, { got: req.body, key: req.headers['idempotency-key'] ?? null }, { location: '/echo/1' }) },
    { method: 'GET', url: '/text', handler: () => 'plain' },
    { method: 'DELETE', url: '/nothing', handler: () => undefined },
    { method: 'GET', url: '/teapot', handler: () => Promise.reject(new HttpError(418, 'TEAPOT', 'short and stout')) },
    { method: 'GET', url: '/db-down', handler: () => Promise.reject(new HastackError(ErrorCode.DB_UNAVAILABLE, 'no primary')) },
    { method: 'GET', url: '/bug', handler: () => Promise.reject(new TypeError('x is undefined')) },
    // A response object made without respond() (the brand is a global symbol), framing header and all.
    {
      method: 'GET',
      url: '/forged',
      handler: () => ({ [Symbol.for('hastack.response')]: true, status: 200, body: { a: 1 }, headers: { 'content-length': '1' } }),
    },
    { method: 'GET', url: '/slow', timeoutMs: 50, handler: (req) => new Promise((resolve) => setTimeout(() => resolve({ aborted: req.signal.aborted }), 300)) },
  ],
  jobs: {},
  migrations: [{ id: '1', sql: ['SELECT 1'] }],
});

const report: ReadinessReport = {
  status: 'degraded',
  checks: {
    db: { ok: false, detail: 'no primary' },
    redis: { ok: true, detail: 'ok' },
    cache: { ok: true, detail: 'ok' },
    migrations: { ok: true, detail: 'up to date' },
  },
  checkedAt: new Date(0).toISOString(),
};

let server: AppFastify;
let state: ServingState;

before(async () => {
  const log = pino({ level: 'silent' });
  const built = buildHttpServer({
    runtime: { app, node: 'n1', context: () => ({}) as AppContext },
    log,
    readiness: { current: () => report },
    requestTimeoutMs: 5_000,
  });
  server = built.server;
  state = built.state;
  await server.ready();
});

after(async () => {
  await server.close();
});

describe('app HTTP layer', () => {
  it('passes params and query, answers JSON with X-Served-By and the request id', async () => {
    const r = await server.inject({ method: 'GET', url: '/hello/ana?x=1', headers: { 'x-request-id': 'abc' } });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { hello: 'ana', q: '1' });
    assert.equal(r.headers['x-served-by'], 'n1');
    assert.equal(r.headers['x-request-id'], 'abc');
  });

  it('review item 12: never sends framing headers an app set on a response object', async () => {
    const r = await server.inject({ method: 'GET', url: '/forged' });
    assert.equal(r.statusCode, 500);
    assert.notEqual(r.headers['content-length'], '1');
  });

  it('makes a request id when the balancer sent none', async () => {
    const r = await server.inject({ method: 'GET', url: '/hello/x' });
    assert.match(String(r.headers['x-request-id']), /^n1-/);
  });

  it('honours respond(), bare strings as JSON and 204 for undefined', async () => {
    const r = await server.inject({ method: 'POST', url: '/echo', payload: { a: 1 }, headers: { 'idempotency-key': 'k1' } });
    assert.equal(r.statusCode, 201);
    assert.equal(r.headers.location, '/echo/1');
    assert.deepEqual(r.json(), { got: { a: 1 }, key: 'k1' });
    const t = await server.inject({ method: 'GET', url: '/text' });
    assert.equal(t.body, '"plain"');
    assert.match(String(t.headers['content-type']), /application\/json/);
    assert.equal((await server.inject({ method: 'DELETE', url: '/nothing' })).statusCode, 204);
  });

  it('answers errors as {"error":{code,message,requestId}}', async () => {
    const teapot = await server.inject({ method: 'GET', url: '/teapot', headers: { 'x-request-id': 'r1' } });
    assert.equal(teapot.statusCode, 418);
    assert.deepEqual(teapot.json(), { error: { code: 'TEAPOT', message: 'short and stout', requestId: 'r1' } });
    const down = await server.inject({ method: 'GET', url: '/db-down' });
    assert.equal(down.statusCode, 503);
    assert.equal(down.headers['retry-after'], '1');
    assert.equal(down.json().error.code, 'DB_UNAVAILABLE');
    const bug = await server.inject({ method: 'GET', url: '/bug' });
    assert.equal(bug.statusCode, 500);
    assert.equal(bug.json().error.code, 'INTERNAL');
    const none = await server.inject({ method: 'GET', url: '/nowhere' });
    assert.equal(none.statusCode, 404);
    assert.equal(none.json().error.code, 'NOT_FOUND');
    assert.equal(none.headers['x-served-by'], 'n1');
  });

  it('answers malformed JSON with 400 and a wrong content type with 415', async () => {
    const bad = await server.inject({ method: 'POST', url: '/echo', payload: '{"a":', headers: { 'content-type': 'application/json', 'x-request-id': 'rj' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'BAD_REQUEST');
    assert.equal(bad.json().error.requestId, 'rj');
    const xml = await server.inject({ method: 'POST', url: '/echo', payload: '<a/>', headers: { 'content-type': 'application/xml' } });
    assert.equal(xml.statusCode, 415);
  });

  it('times a slow route out with 503 TIMEOUT and aborts its signal', async () => {
    const r = await server.inject({ method: 'GET', url: '/slow' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().error.code, 'TIMEOUT');
  });

  it('reports a dependency outage as degraded but stays ready; draining is 503', async () => {
    const ready = await server.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().status, 'degraded');
    assert.equal((await server.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    state.draining = true;
    try {
      const draining = await server.inject({ method: 'GET', url: '/readyz' });
      assert.equal(draining.statusCode, 503);
      assert.equal(draining.json().status, 'draining');
      assert.equal((await server.inject({ method: 'GET', url: '/hello/still' })).statusCode, 200);
    } finally {
      state.draining = false;
    }
  });
});

describe('secureOf (req.secure)', () => {
  const lbs = new Set(['10.0.0.21']);
  it('trusts X-Forwarded-Proto: https only from a load balancer of the cluster or loopback', () => {
    assert.equal(secureOf('10.0.0.21', 'https', lbs), true);
    assert.equal(secureOf('::ffff:127.0.0.1', 'https', lbs), true);
    assert.equal(secureOf('10.0.0.21', 'http', lbs), false);
    assert.equal(secureOf('10.0.0.21', undefined, lbs), false);
    assert.equal(secureOf('203.0.113.9', 'https', lbs), false, 'a client talking to the app server directly cannot claim TLS');
  });
});

describe('clientAddressOf', () => {
  const lbs = new Set(['10.0.0.21']);
  it("believes X-Forwarded-For (its last entry, the balancer's) only from a load balancer or loopback", () => {
    assert.equal(clientAddressOf('10.0.0.21', '198.51.100.7', lbs), '198.51.100.7');
    assert.equal(clientAddressOf('::ffff:127.0.0.1', '1.2.3.4, 198.51.100.7', lbs), '198.51.100.7');
    // A client reaching the app server directly from elsewhere cannot choose its address.
    assert.equal(clientAddressOf('203.0.113.5', '198.51.100.7', lbs), '203.0.113.5');
    assert.equal(clientAddressOf('::ffff:203.0.113.5', undefined, lbs), '203.0.113.5');
    // Not an address: the peer stands.
    assert.equal(clientAddressOf('127.0.0.1', 'evil\u0000header', lbs), '127.0.0.1');
    assert.equal(clientAddressOf(undefined, undefined, lbs), 'unknown');
  });
});

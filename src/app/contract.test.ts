import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { checkRouteUrl, defineApp, HttpError, isAppDefinition, isHttpResponse, respond, type AppSpec } from './contract.js';

const noop = async (): Promise<void> => undefined;

function minimalApp(over: Partial<AppSpec> = {}): AppSpec {
  return {
    name: 'shop',
    routes: [{ method: 'GET', url: '/api/items/:sku', handler: () => ({}) }],
    jobs: { 'send-mail': noop },
    migrations: [{ id: '001', sql: ['CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)'] }],
    ...over,
  };
}

function appInvalid(fn: () => unknown, key: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof HastackError && e.code === ErrorCode.APP_INVALID && key.test(e.message));
}

describe('defineApp', () => {
  it('accepts a valid app and brands it', () => {
    const app = defineApp(minimalApp({ schedules: [{ name: 'mail-tick', job: 'send-mail', everyMs: 5_000 }] }));
    assert.equal(isAppDefinition(app), true);
    assert.equal(isAppDefinition({ ...minimalApp() }), false);
    assert.equal(app.schedules.length, 1);
    assert.ok(Object.isFrozen(app));
  });

  it('defaults schedules to none', () => {
    assert.deepEqual(defineApp(minimalApp()).schedules, []);
  });

  it('names the key of each problem', () => {
    appInvalid(() => defineApp(minimalApp({ name: 'Shop!' })), /^app\.name:/);
    appInvalid(() => defineApp(minimalApp({ routes: [{ method: 'GET', url: 'items', handler: () => 1 }] })), /routes\[0\]\.url/);
    appInvalid(() => defineApp(minimalApp({ routes: [{ method: 'GET', url: '/healthz', handler: () => 1 }] })), /served by the host/);
    appInvalid(
      () =>
        defineApp(
          minimalApp({
            routes: [
              { method: 'GET', url: '/a/:x', handler: () => 1 },
              { method: 'GET', url: '/a/:y', handler: () => 1 },
            ],
          }),
        ),
      /routes\[1\].*twice/,
    );
    appInvalid(() => defineApp(minimalApp({ schedules: [{ name: 's', job: 'nope', everyMs: 5_000 }] })), /schedules\[0\]\.job/);
    appInvalid(() => defineApp(minimalApp({ schedules: [{ name: 's', job: 'send-mail', everyMs: 10 }] })), /everyMs/);
    appInvalid(
      () =>
        defineApp(
          minimalApp({
            migrations: [
              { id: '001', sql: ['SELECT 1'] },
              { id: '001', sql: ['SELECT 2'] },
            ],
          }),
        ),
      /migrations\[1\]\.id/,
    );
    appInvalid(() => defineApp(minimalApp({ migrations: [{ id: '002', sql: [] }] })), /migrations\[0\]\.sql/);
  });

  it('allows the same url with different methods', () => {
    defineApp(
      minimalApp({
        routes: [
          { method: 'GET', url: '/api/orders', handler: () => 1 },
          { method: 'POST', url: '/api/orders', handler: () => 1 },
        ],
      }),
    );
  });
});

describe('route urls', () => {
  it('accepts literal segments and parameters', () => {
    assert.equal(checkRouteUrl('/'), undefined);
    assert.equal(checkRouteUrl('/api/items/:sku'), undefined);
    assert.equal(checkRouteUrl('/v1.2/x_y~z'), undefined);
  });
  it('refuses wildcards, empty segments and repeated parameters', () => {
    assert.notEqual(checkRouteUrl('/files/*'), undefined);
    assert.notEqual(checkRouteUrl('/a//b'), undefined);
    assert.notEqual(checkRouteUrl('/a/:id/b/:id'), undefined);
  });
});

describe('HttpError and respond', () => {
  it('HttpError carries status and code', () => {
    const e = new HttpError(404, 'UNKNOWN_SKU', 'no item X');
    assert.equal(e.status, 404);
    assert.equal(e.code, 'UNKNOWN_SKU');
    assert.throws(() => new HttpError(200, 'OK', 'not an error'));
  });
  it('respond makes a branded response', () => {
    const r = respond(201, { id: 1 }, { location: '/api/orders/1' });
    assert.equal(isHttpResponse(r), true);
    assert.equal(isHttpResponse({ status: 201, body: {} }), false);
    assert.equal(r.status, 201);
  });

  it('review item 12: respond() refuses framing and hop-by-hop headers, bad names and control characters', () => {
    for (const name of ['Content-Length', 'transfer-encoding', 'Connection', 'Keep-Alive', 'Upgrade', 'TE', 'Trailer', 'Proxy-Connection']) {
      assert.throws(() => respond(200, { ok: true }, { [name]: 'x' }), { code: 'APP_INVALID' }, name);
    }
    assert.throws(() => respond(200, {}, { 'bad name': 'x' }), { code: 'APP_INVALID' });
    assert.throws(() => respond(200, {}, { 'x-a': 'v\r\nSet-Cookie: stolen=1' }), { code: 'APP_INVALID' });
    assert.throws(() => respond(200, {}, { 'x-a': 'v\u0000' }), { code: 'APP_INVALID' });
    // Ordinary headers, obs-text and tabs included, are fine.
    assert.equal(respond(201, {}, { location: '/x', 'set-cookie': 'a=1', 'x-note': 'caf\u00e9\tok' }).status, 201);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { guardRequest, hostnameOf, type GuardRequest } from './admin-guard.js';
import { tokenMatches } from './admin-token.js';

const POLICY = { address: '127.0.10.254', token: 'sekrit-token' };
const base = { host: '127.0.10.254:9090' };
const get = (headers: GuardRequest['headers']): GuardRequest => ({ method: 'GET', headers });
const post = (headers: GuardRequest['headers']): GuardRequest => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers } });
const auth = { authorization: 'Bearer sekrit-token' };

describe('review item 5: admin API guard', () => {
  it('a GET from the CLI or our own page passes', () => {
    assert.deepEqual(guardRequest(get(base), POLICY), { ok: true });
    assert.deepEqual(guardRequest(get({ ...base, origin: 'http://127.0.10.254:9090', 'sec-fetch-site': 'same-origin' }), POLICY), { ok: true });
    assert.deepEqual(guardRequest(get({ host: 'localhost:19090' }), POLICY), { ok: true }, 'an SSH tunnel');
  });

  it('a foreign Host is refused (DNS rebinding), and a missing one', () => {
    assert.equal(guardRequest(get({ host: 'evil.example:9090' }), POLICY).ok, false);
    const v = guardRequest(get({}), POLICY);
    assert.ok(!v.ok && v.status === 403 && v.code === 'FORBIDDEN_HOST');
  });

  it('a cross-origin request is refused, reads included, and a null origin', () => {
    for (const origin of ['http://evil.example', 'null', 'https://127.0.10.254:9090', 'http://127.0.10.1:8080']) {
      const v = guardRequest(get({ ...base, origin }), POLICY);
      assert.ok(!v.ok && v.status === 403 && v.code === 'FORBIDDEN_ORIGIN', origin);
    }
    const s = guardRequest(post({ ...base, ...auth, 'sec-fetch-site': 'cross-site' }), POLICY);
    assert.ok(!s.ok && s.status === 403);
  });

  it('a state change needs the token; a wrong one or another scheme is refused with 401', () => {
    for (const a of [undefined, 'Bearer wrong', 'Basic c2Vrcml0LXRva2Vu', 'Bearer sekrit-token-and-more', 'Bearer ']) {
      const v = guardRequest(post({ ...base, ...(a === undefined ? {} : { authorization: a }) }), POLICY);
      assert.ok(!v.ok && v.status === 401 && v.code === 'UNAUTHORIZED', String(a));
      assert.ok(!v.message.includes('sekrit'), 'the refusal never echoes the token');
    }
    assert.deepEqual(guardRequest(post({ ...base, ...auth }), POLICY), { ok: true });
    const pre = guardRequest({ method: 'OPTIONS', headers: base }, POLICY);
    assert.ok(!pre.ok && pre.status === 401, 'no CORS preflight is granted');
  });

  it('a text/plain POST is refused even with the token', () => {
    const v = guardRequest(post({ ...base, ...auth, 'content-type': 'text/plain' }), POLICY);
    assert.ok(!v.ok && v.status === 415);
  });

  it('hostnameOf parses names, IPv4 and bracketed IPv6, with and without a port', () => {
    assert.equal(hostnameOf('127.0.10.254:9090'), '127.0.10.254');
    assert.equal(hostnameOf('LocalHost'), 'localhost');
    assert.equal(hostnameOf('[::1]:9090'), '[::1]');
    assert.equal(hostnameOf('a b'), undefined);
    assert.equal(hostnameOf('evil.example/x'), undefined);
  });

  it('tokenMatches compares whole tokens', () => {
    assert.equal(tokenMatches('abc', 'abc'), true);
    assert.equal(tokenMatches('abc', 'ab'), false);
    assert.equal(tokenMatches('abc', undefined), false);
  });
});

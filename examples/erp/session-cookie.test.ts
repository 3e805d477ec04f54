import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clearedSessionCookie, hashPassword, newSessionId, readCookie, sessionCookie, SESSION_COOKIE, verifyPassword } from './session-cookie.js';

describe('ERP session cookie and passwords', () => {
  it('reads the session cookie among others', () => {
    assert.equal(readCookie(`a=1; ${SESSION_COOKIE}=abc_-9; b=2`, SESSION_COOKIE), 'abc_-9');
    assert.equal(readCookie('a=1; b=2', SESSION_COOKIE), undefined);
    assert.equal(readCookie(`${SESSION_COOKIE}=`, SESSION_COOKIE), undefined);
    assert.equal(readCookie(undefined, SESSION_COOKIE), undefined);
    // A cookie whose name only ends like ours is not ours.
    assert.equal(readCookie(`x${SESSION_COOKIE}=evil`, SESSION_COOKIE), undefined);
  });

  it('makes ids the session store accepts, different every time', () => {
    const a = newSessionId();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, newSessionId());
  });

  it('sets and clears an HttpOnly cookie', () => {
    assert.match(sessionCookie('abc'), new RegExp(`^${SESSION_COOKIE}=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=\\d+$`));
    assert.match(clearedSessionCookie(), /Max-Age=0/);
  });

  it('verifies a password against its hash, and only that password', async () => {
    const h = await hashPassword('s3cret', Buffer.alloc(16, 7), 1024);
    assert.equal(await verifyPassword('s3cret', h), true);
    assert.equal(await verifyPassword('s3cret!', h), false);
    assert.equal(await verifyPassword('s3cret', 'plain-text'), false);
  });

  it('accepts the demo users of migration 005', async () => {
    const clerk = 'scrypt$16384$9b41e6d0c2a85f17$992925c2dd6c781429c2d8b8729fda6833a68db516fdf87bc03991e345656fc5';
    assert.equal(await verifyPassword('clerk-demo', clerk), true);
  });
});

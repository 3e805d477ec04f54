import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateSecrets, readSecrets, secretsFile } from './secrets.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-secrets-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe('secrets.json', () => {
  it('is created 0600 with every password and an 8-character VRRP password', () => {
    const dir = path.join(root, 'new');
    const s = loadOrCreateSecrets(dir);
    assert.equal(fs.statSync(secretsFile(dir)).mode & 0o777, 0o600);
    assert.match(s.vrrpPassword ?? '', /^[A-Za-z0-9_-]{8}$/);
    assert.deepEqual(loadOrCreateSecrets(dir), s, 'stable once made');
  });
  it('adds the VRRP password to a file written before it existed, keeping the other passwords', () => {
    const dir = path.join(root, 'old');
    fs.mkdirSync(dir);
    const old = { redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'd', dbAppPassword: 'a', dbReplPassword: 'p' };
    fs.writeFileSync(secretsFile(dir), JSON.stringify(old), { mode: 0o600 });
    assert.equal(readSecrets(dir).vrrpPassword, undefined, 'readers do not invent it');
    const s = loadOrCreateSecrets(dir);
    const added = { vrrpPassword: undefined, sessionKey: undefined, tlsTicketSecret: undefined, lbDbPassword: undefined, lbStoreKey: undefined, etcdRootPassword: undefined };
    assert.deepEqual({ ...s, ...added }, { ...old, ...added });
    assert.match(s.vrrpPassword ?? '', /^[A-Za-z0-9_-]{8}$/);
    assert.equal(readSecrets(dir).vrrpPassword, s.vrrpPassword);
    assert.equal(fs.statSync(secretsFile(dir)).mode & 0o777, 0o600);
  });
  it('refuses a VRRP password keepalived would cut or misread', () => {
    const dir = path.join(root, 'bad');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      secretsFile(dir),
      JSON.stringify({ redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'd', dbAppPassword: 'a', dbReplPassword: 'p', vrrpPassword: '123456789' }),
    );
    assert.throws(() => readSecrets(dir), /vrrpPassword/);
  });
  it('adds the session key to a file written before it existed, keeping the other passwords', () => {
    const dir = path.join(root, 'old-session');
    fs.mkdirSync(dir);
    const old = { redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'd', dbAppPassword: 'a', dbReplPassword: 'p', vrrpPassword: 'abcdefgh' };
    fs.writeFileSync(secretsFile(dir), JSON.stringify(old), { mode: 0o600 });
    assert.equal(readSecrets(dir).sessionKey, undefined, 'readers do not invent it');
    const s = loadOrCreateSecrets(dir);
    const added = { sessionKey: undefined, tlsTicketSecret: undefined, lbDbPassword: undefined, lbStoreKey: undefined, etcdRootPassword: undefined };
    assert.deepEqual({ ...s, ...added }, { ...old, ...added });
    assert.ok((s.sessionKey ?? '').length >= 32);
    assert.equal(readSecrets(dir).sessionKey, s.sessionKey);
    assert.ok((loadOrCreateSecrets(path.join(root, 'fresh-session')).sessionKey ?? '').length >= 32, 'a new file has one');
    // The load balancers' ACME store secrets (src/lb/acme) are added the same way.
    assert.ok((s.lbDbPassword ?? '').length >= 32 && (s.lbStoreKey ?? '').length >= 32);
    assert.equal(readSecrets(dir).lbStoreKey, s.lbStoreKey);
  });
  it('refuses a session key too short to be a key', () => {
    const dir = path.join(root, 'bad-session');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      secretsFile(dir),
      JSON.stringify({ redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'd', dbAppPassword: 'a', dbReplPassword: 'p', sessionKey: 'short' }),
    );
    assert.throws(() => readSecrets(dir), /sessionKey/);
  });
});

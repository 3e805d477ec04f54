import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HastackError } from '../../shared/errors.js';
import { open, seal, storeKey } from './seal.js';
import { namesKey } from './store.js';

describe('ACME store sealing (AES-256-GCM)', () => {
  const key = storeKey('a-cluster-secret-of-enough-length');
  const pem = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n';

  it('opens what it sealed, and never holds the plain text', () => {
    const s = seal(key, pem, 'acme_certificates/x');
    assert.equal(open(key, s, 'acme_certificates/x'), pem);
    assert.equal(s.includes(Buffer.from('PRIVATE KEY')), false);
    // A fresh nonce each time: two seals of the same key differ.
    assert.notDeepEqual(seal(key, pem, 'acme_certificates/x'), s);
  });

  it('refuses another cluster key, another row, and a flipped bit, with a typed error', () => {
    const s = seal(key, pem, 'acme_certificates/x');
    assert.throws(
      () => open(storeKey('another-cluster-secret-here'), s, 'acme_certificates/x'),
      (e: unknown) => e instanceof HastackError && e.code === 'STATE_CORRUPT',
    );
    assert.throws(() => open(key, s, 'acme_certificates/y'), HastackError);
    const bad = Buffer.from(s);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
    assert.throws(() => open(key, bad, 'acme_certificates/x'), HastackError);
    assert.throws(() => open(key, Buffer.from([9, 1, 2]), 'acme_certificates/x'), HastackError);
  });

  it('names one set of names one way', () => {
    assert.deepEqual(namesKey(['B.example', 'a.example', 'b.example']), namesKey(['a.example', 'b.example']));
    assert.equal(namesKey(['a.example']).names, 'a.example');
  });
});

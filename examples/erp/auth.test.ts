import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCredentials } from './auth.js';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from './session-cookie.js';

describe('ERP login', () => {
  it('review item 10: an unknown user name runs the same password hash as a wrong password (same time, no probing)', async () => {
    const seen: string[] = [];
    const spy = async (password: string, stored: string): Promise<boolean> => {
      seen.push(stored);
      return verifyPassword(password, stored);
    };
    const stored = await hashPassword('right');
    assert.equal(await checkCredentials(undefined, 'guess', spy), false);
    assert.equal(await checkCredentials(stored, 'wrong', spy), false);
    assert.equal(await checkCredentials(stored, 'right', spy), true);
    // One scrypt each, the unknown user's against the dummy of the same cost.
    assert.deepEqual(seen, [DUMMY_PASSWORD_HASH, stored, stored]);
    assert.equal(DUMMY_PASSWORD_HASH.split('$')[1], stored.split('$')[1], "the dummy has the real hashes' cost");
    // The dummy is well formed (verifyPassword runs scrypt on it rather than rejecting its shape) and matches nothing.
    assert.match(DUMMY_PASSWORD_HASH, /^scrypt\$\d{4,7}\$[0-9a-f]{2,64}\$[0-9a-f]{64}$/);
    assert.equal(await verifyPassword('', DUMMY_PASSWORD_HASH), false);
  });
});

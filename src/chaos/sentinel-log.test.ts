import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sentinelLineTime } from './sentinel-log.js';

describe('sentinel log lines', () => {
  it('reads the local time of a +switch-master line', () => {
    const t = sentinelLineTime('9263:X 29 Nov 2026 10:21:48.829 # +switch-master hastack 127.0.10.11 6379 127.0.10.10 6379');
    assert.equal(t, new Date(2026, 10, 29, 10, 21, 48, 829).getTime());
  });
  it('ignores lines that are not Sentinel log lines', () => {
    assert.equal(sentinelLineTime('{"level":30,"msg":"x"}'), undefined);
    assert.equal(sentinelLineTime('9263:M 29 Nov 2026 10:21:48.829 * Ready'), undefined);
  });
});

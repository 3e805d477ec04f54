import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { queueNameOfMetaKey } from './queue-stats.js';

describe('queueNameOfMetaKey', () => {
  it('finds the queue name in BullMQ meta keys under the hastack prefix only', () => {
    assert.equal(queueNameOfMetaKey('hastack:erp:meta'), 'erp');
    assert.equal(queueNameOfMetaKey('hastack:a:b:meta'), 'a:b');
    assert.equal(queueNameOfMetaKey('bull:erp:meta'), undefined);
    assert.equal(queueNameOfMetaKey('hastack::meta'), undefined);
    assert.equal(queueNameOfMetaKey('hastack:erp:wait'), undefined);
  });
});

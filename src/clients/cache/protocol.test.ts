import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeSet, parseReply } from './protocol.js';
import { cacheKey } from './keys.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('memcached text protocol', () => {
  it('encodes set with the byte length of the data', () => {
    assert.equal(encodeSet('k', 0, 5, Buffer.from('héllo')).toString('latin1'), 'set k 0 5 6\r\nh\xc3\xa9llo\r\n');
  });

  it('parses a hit, a miss and waits for a split value', () => {
    const hit = parseReply(b('VALUE k 0 5\r\nhello\r\nEND\r\n'), 'get');
    assert.deepEqual(hit?.reply, { kind: 'value', flags: 0, data: Buffer.from('hello') });
    assert.equal(hit?.bytes, 25);
    assert.deepEqual(parseReply(b('END\r\n'), 'get'), { reply: { kind: 'miss' }, bytes: 5 });
    assert.equal(parseReply(b('VALUE k 0 5\r\nhel'), 'get'), undefined);
    assert.equal(parseReply(b('VALUE k 0 5\r\nhello\r\nEN'), 'get'), undefined);
    assert.equal(parseReply(b('STOR'), 'store'), undefined);
  });

  it('a value containing CRLF is read by length, not by line', () => {
    const r = parseReply(b('VALUE k 3 4\r\na\r\nb\r\nEND\r\nSTORED\r\n'), 'get');
    assert.deepEqual(r?.reply, { kind: 'value', flags: 3, data: Buffer.from('a\r\nb') });
    assert.equal(r?.bytes, 24);
  });

  it('parses store, delete, version and flush replies', () => {
    assert.equal(parseReply(b('STORED\r\n'), 'store')?.reply.kind, 'stored');
    assert.equal(parseReply(b('NOT_STORED\r\n'), 'store')?.reply.kind, 'not-stored');
    assert.equal(parseReply(b('DELETED\r\n'), 'delete')?.reply.kind, 'deleted');
    assert.equal(parseReply(b('NOT_FOUND\r\n'), 'delete')?.reply.kind, 'not-found');
    assert.deepEqual(parseReply(b('VERSION 1.6.18\r\n'), 'version')?.reply, { kind: 'version', version: '1.6.18' });
    assert.equal(parseReply(b('OK\r\n'), 'flush')?.reply.kind, 'ok');
  });

  it('server errors are errors in step; unknown lines are a desync', () => {
    assert.deepEqual(parseReply(b('SERVER_ERROR object too large for cache\r\n'), 'store')?.reply, {
      kind: 'error',
      message: 'SERVER_ERROR object too large for cache',
      desync: false,
    });
    const r = parseReply(b('DELETED\r\n'), 'get');
    assert.equal(r?.reply.kind, 'error');
    assert.equal(r?.reply.kind === 'error' && r.reply.desync, true);
  });
});

describe('cacheKey', () => {
  it('keeps plain keys and hashes unsafe or long ones', () => {
    assert.equal(cacheKey('erp:', 'item:A-1'), 'erp:item:A-1');
    assert.match(cacheKey('erp:', 'has space'), /^erp:#[0-9a-f]{40}$/);
    assert.match(cacheKey('erp:', 'x'.repeat(300)), /^erp:#[0-9a-f]{40}$/);
    assert.notEqual(cacheKey('erp:', 'a b'), cacheKey('erp:', 'a  b'));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRedisAuthError, mysqlErrno, MYSQL_ACCESS_DENIED, redisErrorCode } from './engine-errors.js';
import { ErrorCode, HastackError } from './errors.js';

/** What ioredis rejects with for an error reply: a ReplyError whose message is the reply without its dash. */
function reply(text: string): Error {
  const e = new Error(text);
  e.name = 'ReplyError';
  return e;
}

describe('redisErrorCode', () => {
  it('is the first word of an error reply', () => {
    assert.equal(redisErrorCode(reply('WRONGPASS invalid username-password pair or user is disabled.')), 'WRONGPASS');
    assert.equal(redisErrorCode(reply('LOADING Redis is loading the dataset in memory')), 'LOADING');
    assert.equal(redisErrorCode(reply("READONLY You can't write against a read only replica.")), 'READONLY');
    assert.equal(redisErrorCode(reply('NOGOODSLAVE No suitable replica to promote')), 'NOGOODSLAVE');
    assert.equal(redisErrorCode(reply('INPROG Failover already in progress')), 'INPROG');
    assert.equal(redisErrorCode(reply('ERR')), 'ERR');
  });
  it('follows a wrapping error down to the reply', () => {
    const wrapped = new HastackError(ErrorCode.REDIS_UNAVAILABLE, 'redis at 127.0.0.1:6379 failed', { cause: reply('NOAUTH Authentication required.') });
    assert.equal(redisErrorCode(wrapped), 'NOAUTH');
  });
  it('a message that only mentions a code is no reply: never parsed', () => {
    assert.equal(redisErrorCode(new Error('LOADING the page failed')), undefined);
    assert.equal(redisErrorCode(reply('lowercase prose')), undefined);
    assert.equal(redisErrorCode('WRONGPASS'), undefined);
    assert.equal(redisErrorCode(undefined), undefined);
  });
  it('a cause cycle ends', () => {
    const e = new Error('loop') as Error & { cause?: unknown };
    e.cause = e;
    assert.equal(redisErrorCode(e), undefined);
  });
  it('auth errors: WRONGPASS and NOAUTH only', () => {
    assert.equal(isRedisAuthError(reply('WRONGPASS invalid username-password pair')), true);
    assert.equal(isRedisAuthError(reply('NOAUTH Authentication required.')), true);
    assert.equal(isRedisAuthError(reply('ERR unknown command')), false);
  });
});

describe('mysqlErrno', () => {
  it('reads the server error number, through a wrapping error', () => {
    const denied = Object.assign(new Error("Access denied for user 'root'@'localhost'"), { code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 });
    assert.equal(mysqlErrno(denied), MYSQL_ACCESS_DENIED);
    assert.equal(mysqlErrno(new HastackError(ErrorCode.DB_UNAVAILABLE, 'cannot connect to scratch', { cause: denied })), MYSQL_ACCESS_DENIED);
    assert.equal(mysqlErrno(new Error('Access denied (prose only)')), undefined);
  });
});

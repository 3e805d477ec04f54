import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { HttpError } from './contract.js';
import { errorAnswer } from './http-errors.js';

describe('errorAnswer', () => {
  it('answers an HttpError with its status, code and message, carrying the request id', () => {
    assert.deepEqual(errorAnswer(new HttpError(409, 'CONFLICT', 'taken'), 'r1'), {
      status: 409,
      body: { error: { code: 'CONFLICT', message: 'taken', requestId: 'r1' } },
      unexpected: false,
    });
  });
  it('turns a dependency outage into 503, never 500', () => {
    for (const code of [ErrorCode.DB_UNAVAILABLE, ErrorCode.REDIS_UNAVAILABLE, ErrorCode.TIMEOUT]) {
      const a = errorAnswer(new HastackError(code, 'down'), 'r');
      assert.equal(a.status, 503);
      assert.equal(a.body.error.code, code);
      assert.equal(a.unexpected, false);
    }
  });
  it('answers a write of unknown outcome with its own code and a message that says to check before resending', () => {
    const a = errorAnswer(new HastackError(ErrorCode.DB_COMMIT_UNKNOWN, 'lost during COMMIT to db1'), 'r7');
    assert.equal(a.status, 503);
    assert.equal(a.body.error.code, 'DB_COMMIT_UNKNOWN');
    assert.equal(a.unexpected, false);
    assert.match(a.body.error.message, /may or may not have been applied/);
    assert.match(a.body.error.message, /Idempotency-Key/);
    assert.doesNotMatch(a.body.error.message, /db1/);
  });
  it('keeps the framework 4xx (bad JSON) and maps its handler timeout to 503', () => {
    const badJson = Object.assign(new Error("Body is not valid JSON but content-type is set to 'application/json'"), {
      statusCode: 400,
      code: 'FST_ERR_CTP_INVALID_JSON_BODY',
    });
    assert.equal(errorAnswer(badJson, 'r').status, 400);
    assert.equal(errorAnswer(badJson, 'r').body.error.code, 'BAD_REQUEST');
    assert.equal(errorAnswer(Object.assign(new Error('x'), { statusCode: 415 }), 'r').body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal(errorAnswer(Object.assign(new Error('t'), { statusCode: 503, code: 'FST_ERR_HANDLER_TIMEOUT' }), 'r').status, 503);
  });
  it('hides the details of anything unexpected behind a 500', () => {
    const a = errorAnswer(new TypeError('secret internals'), 'r9');
    assert.equal(a.status, 500);
    assert.equal(a.unexpected, true);
    assert.doesNotMatch(a.body.error.message, /secret/);
    assert.match(a.body.error.message, /r9/);
  });
});

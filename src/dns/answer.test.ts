import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packet } from 'dns2';
import { answerQuery, normalizeName, RCODE, rotate } from './answer.js';

const zone = { name: 'erp.hastack.test', ttlS: 2 };

function query(name: string, type: number = Packet.TYPE.A): Packet {
  const p = new Packet();
  p.header.id = 1234;
  p.header.rd = 1;
  p.questions.push(new Packet.Question(name, type, Packet.CLASS.IN));
  // Through the wire format and back, as the server receives it.
  return Packet.parse(p.toBuffer());
}

function roundTrip(p: Packet): Packet {
  return Packet.parse(p.toBuffer());
}

describe('answerQuery', () => {
  it('answers the service name with every address, authoritative, with the zone TTL', () => {
    const r = roundTrip(answerQuery(query('erp.hastack.test'), zone, ['127.0.0.1', '127.0.0.2']));
    assert.equal(r.header.id, 1234);
    assert.equal(r.header.qr, 1);
    assert.equal(r.header.aa, 1);
    assert.equal(r.header.rcode, RCODE.NOERROR);
    assert.deepEqual(
      r.answers.map((a) => [a.address, a.ttl, a.type]),
      [
        ['127.0.0.1', 2, Packet.TYPE.A],
        ['127.0.0.2', 2, Packet.TYPE.A],
      ],
    );
  });

  it('matches the name case-insensitively and with a trailing dot', () => {
    const r = roundTrip(answerQuery(query('ERP.Hastack.Test.'), zone, ['127.0.0.1']));
    assert.equal(r.header.rcode, RCODE.NOERROR);
    assert.equal(r.answers.length, 1);
  });

  it('says NXDOMAIN for any other name', () => {
    const r = roundTrip(answerQuery(query('other.hastack.test'), zone, ['127.0.0.1']));
    assert.equal(r.header.rcode, RCODE.NXDOMAIN);
    assert.equal(r.answers.length, 0);
  });

  it('says NOERROR with no answer for another type of the service name', () => {
    const r = roundTrip(answerQuery(query('erp.hastack.test', Packet.TYPE.AAAA), zone, ['127.0.0.1']));
    assert.equal(r.header.rcode, RCODE.NOERROR);
    assert.equal(r.answers.length, 0);
  });
});

describe('rotate', () => {
  it('rotates left and leaves the input alone', () => {
    const list = ['a', 'b', 'c'];
    assert.deepEqual(rotate(list, 1), ['b', 'c', 'a']);
    assert.deepEqual(rotate(list, 4), ['b', 'c', 'a']);
    assert.deepEqual(rotate(list, 0), ['a', 'b', 'c']);
    assert.deepEqual(rotate([], 3), []);
    assert.deepEqual(list, ['a', 'b', 'c']);
  });
});

describe('normalizeName', () => {
  it('lower-cases and drops one trailing dot', () => {
    assert.equal(normalizeName('A.B.'), 'a.b');
    assert.equal(normalizeName('a.b'), 'a.b');
  });
});

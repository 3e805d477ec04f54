import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packet } from 'dns2';
import { answerQuery, makeZone, normalizeName, RCODE, rotate, zoneApexOf } from './answer.js';

const zone = makeZone('erp.hastack.test', 2, ['127.0.0.11', '127.0.0.12'], 1_700_000_000);

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

  it('says NXDOMAIN for any other name in the zone, with the SOA for negative caching', () => {
    const r = roundTrip(answerQuery(query('other.hastack.test'), zone, ['127.0.0.1']));
    assert.equal(r.header.rcode, RCODE.NXDOMAIN);
    assert.equal(r.header.aa, 1);
    assert.equal(r.answers.length, 0);
    assert.equal(r.authorities[0]?.type, Packet.TYPE.SOA);
    assert.equal(r.authorities[0]?.minimum, 2);
  });

  it('says NOERROR with no answer (and the SOA) for another type of the service name', () => {
    const r = roundTrip(answerQuery(query('erp.hastack.test', Packet.TYPE.AAAA), zone, ['127.0.0.1']));
    assert.equal(r.header.rcode, RCODE.NOERROR);
    assert.equal(r.answers.length, 0);
    assert.equal(r.authorities[0]?.type, Packet.TYPE.SOA);
  });

  it('refuses names outside the zone, without claiming authority', () => {
    for (const name of ['example.com', 'hastack.test.evil', 'test']) {
      const r = roundTrip(answerQuery(query(name), zone, ['127.0.0.1']));
      assert.equal(r.header.rcode, RCODE.REFUSED, name);
      assert.equal(r.header.aa, 0, name);
      assert.equal(r.answers.length, 0, name);
    }
  });

  it('answers SOA for the zone apex', () => {
    const r = roundTrip(answerQuery(query('hastack.test', Packet.TYPE.SOA), zone, []));
    assert.equal(r.header.rcode, RCODE.NOERROR);
    const [soa] = r.answers;
    assert.equal(soa?.type, Packet.TYPE.SOA);
    assert.equal(soa?.primary, 'ns1.hastack.test');
    assert.equal(soa?.admin, 'hostmaster.hastack.test');
    assert.equal(soa?.serial, 1_700_000_000);
    assert.equal(soa?.minimum, 2);
  });

  it('answers NS for the zone apex with one name server per DNS server, and their addresses as glue', () => {
    const r = roundTrip(answerQuery(query('hastack.test', Packet.TYPE.NS), zone, []));
    assert.deepEqual(
      r.answers.map((x) => [x.type, x.ns]),
      [
        [Packet.TYPE.NS, 'ns1.hastack.test'],
        [Packet.TYPE.NS, 'ns2.hastack.test'],
      ],
    );
    assert.deepEqual(
      r.additionals.map((x) => [x.name, x.address]),
      [
        ['ns1.hastack.test', '127.0.0.11'],
        ['ns2.hastack.test', '127.0.0.12'],
      ],
    );
    const glue = roundTrip(answerQuery(query('ns2.hastack.test'), zone, []));
    assert.deepEqual(
      glue.answers.map((x) => x.address),
      ['127.0.0.12'],
    );
  });
});

describe('zoneApexOf', () => {
  it('is the parent of the service name, or the name itself when it is short', () => {
    assert.equal(zoneApexOf('erp.hastack.test'), 'hastack.test');
    assert.equal(zoneApexOf('A.b.C.d.'), 'b.c.d');
    assert.equal(zoneApexOf('erp.test'), 'erp.test');
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

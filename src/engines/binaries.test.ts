import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseVersion } from './binaries.js';

describe('parseVersion', () => {
  it('reads the version out of each engine banner', () => {
    assert.equal(parseVersion('Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64'), '7.0.15');
    assert.equal(parseVersion('memcached 1.6.18'), '1.6.18');
    assert.equal(parseVersion('mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)'), '10.11.19');
    assert.equal(parseVersion('mariabackup based on MariaDB server 10.11.19-MariaDB debian-linux-gnu (x86_64)'), '10.11.19');
    assert.equal(parseVersion('mariadb  Ver 15.1 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)'), '10.11.19');
    assert.equal(parseVersion('rsync  version 3.2.7  protocol version 31'), '3.2.7');
    assert.equal(parseVersion('socat by Gerhard Rieger and contributors - see www.dest-unreach.org\nsocat version 1.7.4.4 on 06 Nov 2022 17:47:51'), '1.7.4');
    assert.equal(parseVersion('26.4.23-0+deb12u1'), '26.4.23');
    assert.equal(parseVersion('no number here'), undefined);
  });
});

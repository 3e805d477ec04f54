/** Raw binlog bytes for the archive's unit tests (no tests of its own). */

/** A binlog event: 19-byte header, body, CRC32 placeholder (the parser skips it by length). */
function ev(type: number, ts: number, server: number, body: Buffer, pos: number): Buffer {
  const len = 19 + body.length + 4;
  const h = Buffer.alloc(19);
  h.writeUInt32LE(ts, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32LE(server, 5);
  h.writeUInt32LE(len, 9);
  h.writeUInt32LE(pos + len, 13);
  return Buffer.concat([h, body, Buffer.alloc(4)]);
}

/** A raw binlog: FD (CRC32), Gtid_list `start`, then one XID-ended transaction per `txns` entry. */
export function binlog(server: number, start: Array<[number, number, number]>, txns: Array<{ seq: number; ts: number; standalone?: boolean }>): Buffer {
  const parts: Buffer[] = [Buffer.from([0xfe, 0x62, 0x69, 0x6e])];
  let pos = 4;
  const push = (b: Buffer): void => {
    parts.push(b);
    pos += b.length;
  };
  const fd = Buffer.alloc(60);
  fd.writeUInt8(1, 59); // checksum alg: CRC32, the byte before the checksum
  push(ev(15, 1000, server, fd, pos));
  const list = Buffer.alloc(4 + 16 * start.length);
  list.writeUInt32LE(start.length, 0);
  start.forEach(([d, s, q], i) => {
    list.writeUInt32LE(d, 4 + i * 16);
    list.writeUInt32LE(s, 8 + i * 16);
    list.writeBigUInt64LE(BigInt(q), 12 + i * 16);
  });
  push(ev(163, 1000, server, list, pos));
  for (const t of txns) {
    const g = Buffer.alloc(13);
    g.writeBigUInt64LE(BigInt(t.seq), 0);
    g.writeUInt32LE(0, 8);
    g.writeUInt8(t.standalone ? 1 : 0, 12);
    push(ev(162, t.ts, server, g, pos));
    const q = Buffer.concat([Buffer.alloc(13), Buffer.from('\0'), Buffer.from('ALTER TABLE x')]);
    if (t.standalone) push(ev(2, t.ts, server, q, pos));
    else {
      push(ev(30, t.ts, server, Buffer.alloc(10), pos)); // a row event
      push(ev(16, t.ts, server, Buffer.alloc(8), pos)); // XID: the commit
    }
  }
  return Buffer.concat(parts);
}

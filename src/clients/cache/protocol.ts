/**
 * The memcached text protocol, as much as hastack needs: get, set, delete, version, flush_all.
 * Pure functions over Buffers (no sockets) so they are tested without a server.
 *
 * Why our own protocol code and not a package: memjs speaks the binary protocol and hashes keys
 * with its own scheme (not ketama), so two clients could disagree on a key's node; `memcached`
 * (3rd-Eden) bundles its own ring, retries and failover that would fight ours. The subset we need
 * is about a hundred lines, and owning it lets a slow node cost a bounded, known time.
 */

/** What the caller expects back; the text protocol replies in request order on one connection. */
export type Expect = 'get' | 'store' | 'delete' | 'version' | 'flush';

export type Reply =
  | { readonly kind: 'value'; readonly flags: number; readonly data: Buffer }
  | { readonly kind: 'miss' }
  | { readonly kind: 'stored' }
  | { readonly kind: 'not-stored' }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'ok' }
  | { readonly kind: 'version'; readonly version: string }
  /** ERROR, CLIENT_ERROR, SERVER_ERROR or a line we did not expect (the stream is then unusable). */
  | { readonly kind: 'error'; readonly message: string; readonly desync: boolean };

const CRLF = Buffer.from('\r\n');
const END = Buffer.from('END\r\n');

/** Longest key memcached accepts (bytes); longer keys are hashed by `cacheKey`. */
export const MAX_KEY_BYTES = 250;

export function encodeGet(key: string): Buffer {
  return Buffer.from(`get ${key}\r\n`);
}

export function encodeSet(key: string, flags: number, ttlSeconds: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`set ${key} ${flags} ${ttlSeconds} ${data.length}\r\n`), data, CRLF]);
}

export function encodeDelete(key: string): Buffer {
  return Buffer.from(`delete ${key}\r\n`);
}

export function encodeVersion(): Buffer {
  return Buffer.from('version\r\n');
}

export function encodeFlushAll(): Buffer {
  return Buffer.from('flush_all\r\n');
}

function errorLine(line: string): Reply | undefined {
  if (line === 'ERROR') return { kind: 'error', message: 'ERROR (unknown command)', desync: false };
  if (line.startsWith('CLIENT_ERROR') || line.startsWith('SERVER_ERROR')) return { kind: 'error', message: line, desync: false };
  return undefined;
}

/**
 * Parses one reply from the front of `buf`. Returns the reply and the bytes it used, or
 * undefined when `buf` does not hold a whole reply yet.
 */
export function parseReply(buf: Buffer, expect: Expect): { reply: Reply; bytes: number } | undefined {
  const eol = buf.indexOf(CRLF);
  if (eol < 0) return undefined;
  const line = buf.toString('latin1', 0, eol);
  const lineBytes = eol + 2;
  const err = errorLine(line);
  if (err) return { reply: err, bytes: lineBytes };
  const unexpected = (): { reply: Reply; bytes: number } => ({
    reply: { kind: 'error', message: `unexpected reply "${line.slice(0, 80)}" to ${expect}`, desync: true },
    bytes: lineBytes,
  });
  switch (expect) {
    case 'get': {
      if (line === 'END') return { reply: { kind: 'miss' }, bytes: lineBytes };
      // VALUE <key> <flags> <bytes> [<cas>]
      const m = /^VALUE \S+ (\d+) (\d+)(?: \d+)?$/.exec(line);
      if (!m) return unexpected();
      const flags = Number(m[1]);
      const size = Number(m[2]);
      const total = lineBytes + size + CRLF.length + END.length;
      if (buf.length < total) return undefined;
      const data = buf.subarray(lineBytes, lineBytes + size);
      if (!buf.subarray(lineBytes + size, total).equals(Buffer.concat([CRLF, END]))) return unexpected();
      // Copy: `buf` is the connection's receive buffer and is reused.
      return { reply: { kind: 'value', flags, data: Buffer.from(data) }, bytes: total };
    }
    case 'store':
      if (line === 'STORED') return { reply: { kind: 'stored' }, bytes: lineBytes };
      if (line === 'NOT_STORED') return { reply: { kind: 'not-stored' }, bytes: lineBytes };
      return unexpected();
    case 'delete':
      if (line === 'DELETED') return { reply: { kind: 'deleted' }, bytes: lineBytes };
      if (line === 'NOT_FOUND') return { reply: { kind: 'not-found' }, bytes: lineBytes };
      return unexpected();
    case 'version':
      if (line.startsWith('VERSION ')) return { reply: { kind: 'version', version: line.slice(8) }, bytes: lineBytes };
      return unexpected();
    case 'flush':
      if (line === 'OK') return { reply: { kind: 'ok' }, bytes: lineBytes };
      return unexpected();
  }
}

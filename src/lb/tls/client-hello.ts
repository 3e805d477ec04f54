/*
 * Just enough of a TLS ClientHello to read the name of the session-ticket key a resuming client
 * presents: the first 16 bytes of its ticket (OpenSSL seals tickets as key_name || IV || data ||
 * HMAC), from the `session_ticket` extension (TLS 1.2) or the first identity of
 * `pre_shared_key` (TLS 1.3). Anything unexpected returns undefined and the connection goes to
 * the ordinary listener, which does the real parsing (and refusing).
 */

const RECORD_HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const EXT_SESSION_TICKET = 35;
const EXT_PRE_SHARED_KEY = 41;
export const KEY_NAME_BYTES = 16;
/** A TLS record holds at most 2^14 bytes (+5 of header); a ClientHello larger than one record is not looked into. */
export const MAX_RECORD_BYTES = 5 + 16_384;

/** Bytes needed for the first record, once its header is in; undefined before that. */
export function firstRecordLength(buf: Buffer): number | undefined {
  if (buf.length < 5) return undefined;
  return 5 + buf.readUInt16BE(3);
}

export function isHandshakeRecord(buf: Buffer): boolean {
  return buf.length > 0 && buf[0] === RECORD_HANDSHAKE;
}

/** The ticket key name the ClientHello in `record` (one whole record) presents, if any. */
export function ticketKeyNameOf(record: Buffer): Buffer | undefined {
  try {
    if (record[0] !== RECORD_HANDSHAKE || record[5] !== CLIENT_HELLO) return undefined;
    let p = 5 + 4 + 2 + 32; // record header, handshake header, legacy_version, random
    p += 1 + (record[p] as number); // session id
    p += 2 + record.readUInt16BE(p); // cipher suites
    p += 1 + (record[p] as number); // compression methods
    if (p + 2 > record.length) return undefined;
    const end = Math.min(record.length, p + 2 + record.readUInt16BE(p));
    p += 2;
    while (p + 4 <= end) {
      const type = record.readUInt16BE(p);
      const len = record.readUInt16BE(p + 2);
      const data = p + 4;
      if (data + len > end) return undefined;
      if (type === EXT_SESSION_TICKET && len >= KEY_NAME_BYTES) return record.subarray(data, data + KEY_NAME_BYTES);
      if (type === EXT_PRE_SHARED_KEY && len >= 4) {
        // identities<7..2^16-1>: the first identity's length, then its bytes.
        const idLen = record.readUInt16BE(data + 2);
        if (idLen >= KEY_NAME_BYTES && data + 4 + KEY_NAME_BYTES <= end) return record.subarray(data + 4, data + 4 + KEY_NAME_BYTES);
        return undefined;
      }
      p = data + len;
    }
  } catch {
    // A short or odd record: RangeError from the reads above; the real parser will judge it.
  }
  return undefined;
}

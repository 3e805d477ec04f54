/**
 * The stable codes the engines put on their own errors, read in one place so that no caller
 * parses an error's message text (STYLE 5: branch on a code, never on a message).
 *
 * - Redis and Sentinel: an error reply's first word is its code (the RESP protocol: "-WRONGPASS
 *   invalid username-password pair" has code WRONGPASS; ioredis puts the reply, without the dash,
 *   in the ReplyError's message). The rest of the reply is prose and may change between versions.
 * - MariaDB: the server's error number (mysql2 sets `errno`; 1045 is ER_ACCESS_DENIED_ERROR).
 *
 * Both follow `cause`, since a HastackError often wraps the engine's error.
 */

/** Bounded walk down `cause`: a cycle (an error that is its own cause) never loops. */
function* causes(e: unknown): Generator<unknown> {
  let cur = e;
  for (let depth = 0; depth < 5 && cur !== undefined && cur !== null; depth++) {
    yield cur;
    const next: unknown = typeof cur === 'object' ? (cur as { cause?: unknown }).cause : undefined;
    if (next === cur) return;
    cur = next;
  }
}

/** A Redis error reply's code (LOADING, WRONGPASS, NOAUTH, READONLY, INPROG, NOGOODSLAVE...), if `e` is one. */
export function redisErrorCode(e: unknown): string | undefined {
  for (const c of causes(e)) {
    if (!(c instanceof Error) || c.name !== 'ReplyError') continue;
    const code = /^([A-Z][A-Z0-9_]*)(?:\s|$)/.exec(c.message)?.[1];
    if (code !== undefined) return code;
  }
  return undefined;
}

/** Redis refused our credentials (a wrong password, or none given). */
export function isRedisAuthError(e: unknown): boolean {
  const code = redisErrorCode(e);
  return code === 'WRONGPASS' || code === 'NOAUTH';
}

/** A MariaDB server error number (`errno`), if `e` or its cause carries one. */
export function mysqlErrno(e: unknown): number | undefined {
  for (const c of causes(e)) {
    const errno = typeof c === 'object' ? (c as { errno?: unknown }).errno : undefined;
    if (typeof errno === 'number') return errno;
  }
  return undefined;
}

/** ER_ACCESS_DENIED_ERROR: the server is up and refused the user or password. */
export const MYSQL_ACCESS_DENIED = 1045;

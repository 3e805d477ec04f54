import { createHash } from 'node:crypto';
import { HttpError, isDuplicateKeyError, respond, type AppContext, type AppRequest, type Counters, type HttpResponse, type SessionStore } from '../../src/app/index.js';
import { clearedSessionCookie, DUMMY_PASSWORD_HASH, newSessionId, readCookie, sessionCookie, SESSION_COOKIE, SESSION_TTL_S, verifyPassword } from './session-cookie.js';
import { parseLogin } from './validate.js';

/** What a session holds. */
export interface SessionUser {
  readonly username: string;
  readonly role: 'admin' | 'clerk';
}

function sessionsOf(ctx: AppContext): SessionStore {
  // The host always provides sessions; a custom host without Redis cannot log anyone in.
  if (!ctx.session) throw new HttpError(503, 'SESSIONS_UNAVAILABLE', 'this app server has no session store; retry on another');
  return ctx.session;
}

function countersOf(ctx: AppContext): Counters {
  // Without shared counters there is no throttle: refuse rather than let guesses through.
  if (!ctx.counters) throw new HttpError(503, 'LOGIN_UNAVAILABLE', 'this app server cannot count login attempts; retry on another');
  return ctx.counters;
}

/**
 * How a session is named in the database: SHA-256 of its id. The id is 32 random bytes, so the
 * digest cannot be turned back into a cookie or guessed (no key needed, unlike a low-entropy
 * value); the id itself is stored nowhere.
 */
function sessionDigest(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/**
 * The session's copy in MariaDB (`user_sessions`), read only when Redis cannot answer (a
 * failover): unlike the cache, the database is authenticated and nobody outside the cluster can
 * list or write it, so it is a source to verify a session against, not a rumour. Expired or
 * ended sessions are not found.
 */
async function sessionFromDb(ctx: AppContext, id: string): Promise<SessionUser | undefined> {
  const [row] = await ctx.db.query<{ username: string; role: string }>('SELECT username, role FROM user_sessions WHERE id_hash = ? AND expires_at > UTC_TIMESTAMP(3)', [
    sessionDigest(id),
  ]);
  const user = row ? { username: row.username, role: row.role } : undefined;
  return isSessionUser(user) ? user : undefined;
}

function isSessionUser(v: unknown): v is SessionUser {
  if (typeof v !== 'object' || v === null) return false;
  const u = v as Record<string, unknown>;
  return typeof u.username === 'string' && (u.role === 'admin' || u.role === 'clerk');
}

/**
 * Login throttle: failed logins counted in Redis (shared by every app server, so adding app
 * servers does not multiply the allowance), in 15-minute windows:
 * - 5 per user name and client address: a person mistyping gets five tries, a guesser five
 *   guesses per quarter hour from one address;
 * - 50 per user name from any address: bounds guessing spread over many addresses (an attacker
 *   can lock a name out for the window this way; the price of bounding it at all);
 * - 50 per client address over all user names: bounds spraying and user-name probing from one
 *   address.
 * Only failures count: the chaos workload and the tests log in once per client, successfully.
 * Past a limit the answer is 429 with Retry-After, the password unchecked.
 */
export const LOGIN_WINDOW_S = 15 * 60;
export const LOGIN_LIMITS = { perUserAndClient: 5, perUser: 50, perClient: 50 } as const;

function throttleNames(username: string, client: string): Array<[name: string, limit: number]> {
  return [
    [`login-fail:user+client:${username}\0${client}`, LOGIN_LIMITS.perUserAndClient],
    [`login-fail:user:${username}`, LOGIN_LIMITS.perUser],
    [`login-fail:client:${client}`, LOGIN_LIMITS.perClient],
  ];
}

/**
 * Whether `password` matches `stored`, taking the same time when there is no such user: the hash
 * runs against a dummy of the same cost, so the answer's timing does not tell which user names
 * exist. `verify` is the password check (a parameter for the unit test).
 */
export async function checkCredentials(
  stored: string | undefined,
  password: string,
  verify: (password: string, stored: string) => Promise<boolean> = verifyPassword,
): Promise<boolean> {
  const ok = await verify(password, stored ?? DUMMY_PASSWORD_HASH);
  return stored !== undefined && ok;
}

/**
 * POST /login {username, password} → 200 {user} and the session cookie; 401 for an unknown user
 * or a wrong password alike (same answer, same time); 429 once the throttle is hit. The session
 * is written to MariaDB (under a digest of its id) and to Redis (under a keyed hash of it):
 * never to the cache, which anyone who reaches memcached can list and write.
 */
export async function login(req: AppRequest, ctx: AppContext): Promise<HttpResponse> {
  const input = parseLogin(req.body);
  const counters = countersOf(ctx);
  const names = throttleNames(input.username, req.clientAddress);
  const states = await Promise.all(names.map(([n]) => counters.peek(n)));
  const over = states.map((s, i) => ({ s, limit: names[i]?.[1] ?? 0 })).filter(({ s, limit }) => s.count >= limit);
  if (over.length > 0) {
    const retryAfter = Math.max(1, ...over.map(({ s }) => s.resetInSeconds));
    ctx.log.warn('login throttled', { client: req.clientAddress });
    return respond(
      429,
      { error: { code: 'LOGIN_THROTTLED', message: `too many failed logins; try again in ${retryAfter} s`, requestId: req.requestId } },
      { 'retry-after': String(retryAfter) },
    );
  }
  const [row] = await ctx.db.query<{ password_hash: string; role: 'admin' | 'clerk' }>('SELECT password_hash, role FROM users WHERE username = ?', [input.username]);
  // Always one hash, user or no user: the same work and time for both wrong answers.
  const ok = await checkCredentials(row?.password_hash, input.password);
  if (!row || !ok) {
    await Promise.all(names.map(([n]) => counters.hit(n, LOGIN_WINDOW_S)));
    throw new HttpError(401, 'BAD_CREDENTIALS', 'username or password is wrong');
  }
  // A success forgives this client's mistakes on this name (not the per-name or per-client totals).
  await counters.reset(names[0]?.[0] ?? '');
  const user: SessionUser = { username: input.username, role: row.role };
  const id = newSessionId();
  // The database copy first: a session Redis knows always has one. Expired rows go at logins, a
  // bounded 100 at a time (logins are what adds rows).
  await ctx.db.execute('DELETE FROM user_sessions WHERE expires_at < UTC_TIMESTAMP(3) LIMIT 100', [], { idempotent: true });
  await ctx.db
    .execute(
      'INSERT INTO user_sessions (id_hash, username, role, expires_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3) + INTERVAL ? SECOND)',
      [sessionDigest(id), user.username, user.role, SESSION_TTL_S],
      {
        // The digest is the primary key: a re-run after an unknown COMMIT is a duplicate, not a second row.
        idempotent: true,
      },
    )
    .catch((e: unknown) => {
      if (!isDuplicateKeyError(e)) throw e;
    });
  await sessionsOf(ctx).set(id, { ...user }, SESSION_TTL_S);
  return respond(200, { user }, { 'set-cookie': sessionCookie(id), 'cache-control': 'no-store' });
}

/**
 * The logged-in user, or 401 NOT_LOGGED_IN. Redis first; when Redis fails (not when it says "no
 * such session") the session's row in MariaDB answers, and when that fails too the Redis error
 * stands (503, Retry-After: retry), because a session that cannot be verified is not a
 * logged-out user. Never the cache: anyone who reaches memcached can list and write it.
 */
export async function currentUser(req: AppRequest, ctx: AppContext): Promise<SessionUser> {
  const id = readCookie(req.headers.cookie, SESSION_COOKIE);
  if (id === undefined || !/^[A-Za-z0-9_-]{8,128}$/.test(id)) {
    throw new HttpError(401, 'NOT_LOGGED_IN', 'log in first: POST /login {"username","password"} and send the session cookie it sets');
  }
  let data: unknown;
  try {
    data = await sessionsOf(ctx).get(id);
  } catch (e) {
    let stored: SessionUser | undefined;
    try {
      stored = await sessionFromDb(ctx, id);
    } catch {
      // Neither source can answer: the Redis error (503, retry) is the one to report.
      throw e;
    }
    if (!stored) throw new HttpError(401, 'NOT_LOGGED_IN', 'the session has expired or was ended; log in again (POST /login)');
    ctx.log.warn('session verified in the database: Redis did not answer', { err: e instanceof Error ? e.message : String(e) });
    return stored;
  }
  if (!isSessionUser(data)) throw new HttpError(401, 'NOT_LOGGED_IN', 'the session has expired or was ended; log in again (POST /login)');
  return data;
}

export async function requireAdmin(req: AppRequest, ctx: AppContext): Promise<SessionUser> {
  const user = await currentUser(req, ctx);
  if (user.role !== 'admin') throw new HttpError(403, 'ADMIN_ONLY', `user ${user.username} is a ${user.role}; this needs an admin`);
  return user;
}

/** POST /logout: ends the session in MariaDB and Redis (503 if either cannot: retry) and clears the cookie. */
export async function logout(req: AppRequest, ctx: AppContext): Promise<HttpResponse> {
  const id = readCookie(req.headers.cookie, SESSION_COOKIE);
  if (id !== undefined && /^[A-Za-z0-9_-]{8,128}$/.test(id)) {
    await ctx.db.execute('DELETE FROM user_sessions WHERE id_hash = ?', [sessionDigest(id)], { idempotent: true });
    await sessionsOf(ctx).destroy(id);
  }
  return respond(200, { loggedOut: true }, { 'set-cookie': clearedSessionCookie() });
}

import { HttpError, respond, type AppContext, type AppRequest, type HttpResponse, type SessionStore } from '../../src/app/index.js';
import { clearedSessionCookie, newSessionId, readCookie, sessionCookie, SESSION_COOKIE, SESSION_TTL_S, verifyPassword } from './session-cookie.js';
import { parseLogin } from './validate.js';

/** What a session holds. */
export interface SessionUser {
  readonly username: string;
  readonly role: 'admin' | 'clerk';
}

const cacheKey = (id: string): string => `session:${id}`;

function sessionsOf(ctx: AppContext): SessionStore {
  // The host always provides sessions; a custom host without Redis cannot log anyone in.
  if (!ctx.session) throw new HttpError(503, 'SESSIONS_UNAVAILABLE', 'this app server has no session store; retry on another');
  return ctx.session;
}

function isSessionUser(v: unknown): v is SessionUser {
  if (typeof v !== 'object' || v === null) return false;
  const u = v as Record<string, unknown>;
  return typeof u.username === 'string' && (u.role === 'admin' || u.role === 'clerk');
}

/**
 * POST /login {username, password} → 200 {user} and the session cookie. The session is written
 * to Redis (the truth, shared by every app server) and copied to the cache, which is read only
 * when Redis cannot answer (a failover): a logged-in user keeps working through a Redis outage.
 */
export async function login(req: AppRequest, ctx: AppContext): Promise<HttpResponse> {
  const input = parseLogin(req.body);
  const [row] = await ctx.db.query<{ password_hash: string; role: 'admin' | 'clerk' }>('SELECT password_hash, role FROM users WHERE username = ?', [input.username]);
  // The same answer for an unknown user and a wrong password: no probing for user names.
  if (!row || !(await verifyPassword(input.password, row.password_hash))) {
    throw new HttpError(401, 'BAD_CREDENTIALS', 'username or password is wrong');
  }
  const user: SessionUser = { username: input.username, role: row.role };
  const id = newSessionId();
  await sessionsOf(ctx).set(id, { ...user }, SESSION_TTL_S);
  await ctx.cache.set(cacheKey(id), user, SESSION_TTL_S);
  return respond(200, { user }, { 'set-cookie': sessionCookie(id), 'cache-control': 'no-store' });
}

/**
 * The logged-in user, or 401 NOT_LOGGED_IN. Redis first; when Redis fails (not when it says
 * "no such session") the cached copy made at login answers, and without one the Redis error
 * stands (503: retry), because a session that cannot be read is not a logged-out user.
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
    const cached = await ctx.cache.get<SessionUser>(cacheKey(id));
    if (!isSessionUser(cached)) throw e;
    ctx.log.warn('session read from the cache: Redis did not answer', { err: e instanceof Error ? e.message : String(e) });
    return cached;
  }
  if (!isSessionUser(data)) throw new HttpError(401, 'NOT_LOGGED_IN', 'the session has expired or was ended; log in again (POST /login)');
  return data;
}

export async function requireAdmin(req: AppRequest, ctx: AppContext): Promise<SessionUser> {
  const user = await currentUser(req, ctx);
  if (user.role !== 'admin') throw new HttpError(403, 'ADMIN_ONLY', `user ${user.username} is a ${user.role}; this needs an admin`);
  return user;
}

/** POST /logout: ends the session in Redis and in the cache, and clears the cookie. */
export async function logout(req: AppRequest, ctx: AppContext): Promise<HttpResponse> {
  const id = readCookie(req.headers.cookie, SESSION_COOKIE);
  if (id !== undefined && /^[A-Za-z0-9_-]{8,128}$/.test(id)) {
    await sessionsOf(ctx).destroy(id);
    await ctx.cache.deleteMany([cacheKey(id)]);
  }
  return respond(200, { loggedOut: true }, { 'set-cookie': clearedSessionCookie() });
}

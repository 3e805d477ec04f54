import http from 'node:http';
import net from 'node:net';
import type { AdminProbe } from './facts.js';

/** Every probe answers in milliseconds on a working cluster; 3 s means it is not answering. */
const PROBE_TIMEOUT_MS = 3_000;
/** A site that is not ours: `.invalid` never resolves (RFC 2606). */
const FOREIGN = 'audit.invalid';

function httpStatus(o: { host: string; port: number; method: string; path: string; headers: Record<string, string>; body?: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: o.host, port: o.port, method: o.method, path: o.path, headers: o.headers, timeout: PROBE_TIMEOUT_MS, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${PROBE_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * Requests the admin API must refuse, none of which could change anything were it open: the fault
 * body is `{}`, which no handler accepts (an open API answers 400, a guarded one 401/403/415).
 */
export async function probeAdminApi(address: string, port: number): Promise<AdminProbe> {
  const url = `http://${address}:${port}`;
  const own = `${address}:${port}`;
  const post = (headers: Record<string, string>): Promise<number> =>
    httpStatus({ host: address, port, method: 'POST', path: '/v1/faults', headers: { host: own, 'content-type': 'text/plain', ...headers }, body: '{}' });
  try {
    return {
      url,
      noToken: await post({}),
      crossOrigin: await post({ origin: `http://${FOREIGN}` }),
      crossOriginRead: await httpStatus({ host: address, port, method: 'GET', path: '/v1/status', headers: { host: own, origin: `http://${FOREIGN}` } }),
      foreignHost: await httpStatus({ host: address, port, method: 'GET', path: '/v1/status', headers: { host: `${FOREIGN}:${port}` } }),
    };
  } catch (e) {
    return { url, noToken: 0, crossOrigin: 0, crossOriginRead: 0, foreignHost: 0, error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Sends `line` to a TCP service and returns the first line of its answer; undefined when it
 * refused the connection or said nothing in time.
 */
export function firstLine(address: string, port: number, line: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    const sock = net.connect({ host: address, port });
    const done = (v: string | undefined): void => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(PROBE_TIMEOUT_MS, () => done(buf === '' ? undefined : buf));
    sock.on('connect', () => sock.write(line));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl).replace(/\r$/, ''));
    });
    sock.on('error', () => done(undefined));
    sock.on('end', () => done(buf === '' ? undefined : buf));
  });
}

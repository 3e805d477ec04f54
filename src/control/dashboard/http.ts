import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { Secrets, Topology } from '../../config/index.js';
import { ErrorCode, HastackError } from '../../shared/errors.js';
import { readEventsFrom } from '../../shared/events.js';
import { packageRoot } from '../../shared/module-path.js';
import { StatusFeed } from './feed.js';
import { listReports, readReport } from './reports.js';
import type { StreamMessage } from './types.js';

/** Where `npm run build` puts the page (scripts/build-dashboard.mjs): dist/dashboard/public. */
export const PUBLIC_DIR = path.join(packageRoot(), 'dist/dashboard/public/');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** Events per `GET /v1/events` answer; the page asks again with `since=next` for more. */
const EVENTS_PAGE = 1_000;

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function sendFile(res: http.ServerResponse, name: string): boolean {
  const file = path.join(PUBLIC_DIR, name);
  const type = TYPES[path.extname(file)];
  // Only files of the page itself: a known type, inside PUBLIC_DIR (no `..`).
  if (type === undefined || !file.startsWith(PUBLIC_DIR)) return false;
  let body: Buffer;
  try {
    body = fs.readFileSync(file);
  } catch {
    return false;
  }
  // The page is never framed by another site (clickjacking) and its types are never sniffed.
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache', 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff' });
  res.end(body);
  return true;
}

function sse(res: http.ServerResponse, m: StreamMessage): void {
  res.write(`event: ${m.type}\ndata: ${JSON.stringify(m.type === 'status' ? m.status : m.events)}\n\n`);
}

export interface DashboardRoutes {
  /** Answers the request if it is one of the dashboard's (GET only); false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  readonly feed: StatusFeed;
  close(): void;
}

/**
 * The dashboard's read-only endpoints on the supervisor's admin server: the page (`GET /` and its
 * files), `GET /v1/events?since=OFFSET|ISO-TIME`, `GET /v1/stream` (server-sent events: `status` every
 * second, `events` as they are logged), `GET /v1/reports` and `GET /v1/reports/ID`.
 * Nothing here changes the cluster: the page shows CLI commands, it never runs them.
 */
export function dashboardRoutes(topo: Topology, secrets: Secrets): DashboardRoutes {
  const feed = new StatusFeed(topo, secrets);
  const streams = new Set<http.ServerResponse>();
  return {
    feed,
    handle(req, res) {
      if (req.method !== 'GET') return false;
      const url = new URL(req.url ?? '/', 'http://admin');
      const p = url.pathname;
      if (p === '/' || p === '/index.html') return sendFile(res, 'index.html');
      if (p === '/v1/events') {
        // `since` is the `next` of the previous answer (a byte offset in the log), or a time.
        const since = url.searchParams.get('since') ?? '0';
        const asOffset = /^\d+$/.test(since) ? Number(since) : undefined;
        const asTime = asOffset === undefined ? Date.parse(since) : Number.NaN;
        if (asOffset === undefined && Number.isNaN(asTime)) {
          throw new HastackError(ErrorCode.BAD_REQUEST, `since=${since}: give the "next" of the previous answer, or an ISO time`);
        }
        const { events, offset } = readEventsFrom(topo.stateDir, asOffset ?? 0);
        const picked = asOffset === undefined ? events.filter((e) => Date.parse(e.ts) > asTime) : events;
        sendJson(res, 200, { events: picked.slice(-EVENTS_PAGE), next: offset });
        return true;
      }
      if (p === '/v1/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        // Reconnect after 2 s when the supervisor restarts or the connection drops.
        res.write('retry: 2000\n\n');
        streams.add(res);
        const unsubscribe = feed.subscribe((m) => sse(res, m));
        res.on('close', () => {
          unsubscribe();
          streams.delete(res);
        });
        return true;
      }
      if (p === '/v1/reports') {
        sendJson(res, 200, { reports: listReports(topo.stateDir) });
        return true;
      }
      if (p.startsWith('/v1/reports/')) {
        sendJson(res, 200, readReport(topo.stateDir, decodeURIComponent(p.slice('/v1/reports/'.length))));
        return true;
      }
      if (/^\/[A-Za-z0-9_.-]+$/.test(p)) return sendFile(res, p.slice(1));
      return false;
    },
    close() {
      feed.close();
      for (const s of streams) s.end();
      streams.clear();
    },
  };
}

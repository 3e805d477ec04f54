/**
 * Loads the ERP's demo data through the service: logs in as an admin and calls POST /admin/seed
 * (idempotent: a second run says "already loaded").
 *
 *   node dist/examples/erp/seed-cli.js http://127.0.0.1:8080 [--user admin] [--password admin-demo]
 *
 * The URL is the service's (a load balancer) or one app server's.
 */
import { parseArgs } from 'node:util';

// 30 s per request: login hashes a password and the seed is one transaction of ~40 rows.
const TIMEOUT_MS = 30_000;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { user: { type: 'string', default: 'admin' }, password: { type: 'string', default: 'admin-demo' } },
  });
  const base = positionals[0];
  if (!base || !/^https?:\/\//.test(base)) {
    process.stderr.write('usage: node dist/examples/erp/seed-cli.js <service url, e.g. http://127.0.0.1:8080> [--user admin] [--password ...]\n');
    return 2;
  }
  const login = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: values.user, password: values.password }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const cookie = login.headers.get('set-cookie')?.split(';')[0];
  if (login.status !== 200 || !cookie) {
    process.stderr.write(`login as ${values.user} failed: HTTP ${login.status} ${await login.text()}\n`);
    return 1;
  }
  const seed = await fetch(`${base}/admin/seed`, { method: 'POST', headers: { cookie }, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const body = (await seed.json()) as { seed?: string; loaded?: boolean };
  if (seed.status !== 200) {
    process.stderr.write(`seed failed: HTTP ${seed.status} ${JSON.stringify(body)}\n`);
    return 1;
  }
  process.stdout.write(body.loaded ? `seed ${body.seed} loaded\n` : `seed ${body.seed} was already loaded; nothing changed\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);

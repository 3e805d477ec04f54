import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The real redis-cli against `host:port`, the password in REDISCLI_AUTH (never in argv): its
 * output, or what it printed when it failed (an auth error is an answer a test asserts on).
 * 20 s bound: an answer on a test network takes milliseconds; a hung connection fails the test.
 */
export async function redisCli(host: string, port: number, password: string, ...cmd: string[]): Promise<string> {
  try {
    const r = await run('redis-cli', ['-h', host, '-p', String(port), ...cmd], { env: { ...process.env, REDISCLI_AUTH: password }, timeout: 20_000 });
    return r.stdout.trim();
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e).trim();
  }
}

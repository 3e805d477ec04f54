import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The real redis-cli against `host:port`, the password in REDISCLI_AUTH (never in argv): its
 * output, or what it printed when it failed (an auth error is an answer a test asserts on).
 * 20 s bound: an answer on a test network takes milliseconds; a hung connection fails the test.
 */
export function redisCli(host: string, port: number, password: string, ...cmd: string[]): Promise<string> {
  return answer('redis-cli', ['-h', host, '-p', String(port), ...cmd], password);
}

/**
 * The same from inside network namespace `ns` (a bed host that is a cluster node): on hosts,
 * Redis and Sentinel answer only the cluster's nodes (src/hosts/firewall.ts), not this machine.
 * `ip netns exec` keeps the environment, so the password still stays out of argv.
 */
export function redisCliFrom(ns: string, host: string, port: number, password: string, ...cmd: string[]): Promise<string> {
  return answer('ip', ['netns', 'exec', ns, 'redis-cli', '-h', host, '-p', String(port), ...cmd], password);
}

async function answer(file: string, args: string[], password: string): Promise<string> {
  try {
    const r = await run(file, args, { env: { ...process.env, REDISCLI_AUTH: password }, timeout: 20_000 });
    return r.stdout.trim();
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e).trim();
  }
}

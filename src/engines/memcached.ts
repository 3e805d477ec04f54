import fs from 'node:fs';
import net from 'node:net';
import { describeError } from '../shared/errors.js';
import type { ProbeResult, ProcessSpec, ServiceContext, ServiceDriver } from '../registry/index.js';

/** memcached's command line: it has no config file, everything is a flag. */
export function memcachedArgs(p: { address: string; port: number; memoryMb: number; asRoot: boolean }): string[] {
  const args = [
    '-l',
    p.address,
    '-p',
    String(p.port),
    // UDP off: nothing uses it, and it is an amplification vector.
    '-U',
    '0',
    '-m',
    String(p.memoryMb),
    // 1024 connections: a few app and worker processes with small pools each; the default of 1024
    // made explicit so it is visible next to the fd limit.
    '-c',
    '1024',
  ];
  // memcached refuses to run as root unless told which user to stay.
  if (p.asRoot) args.push('-u', 'root');
  return args;
}

/** Sends one text-protocol command and resolves with the first line of the answer; rejects on timeout. */
function memcachedLine(host: string, port: number, command: string, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    let settled = false;
    const socket = net.createConnection({ host, port });
    const finish = (err: Error | null, v?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(v ?? '');
    };
    const timer = setTimeout(() => finish(new Error(`no answer from memcached at ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n');
      if (end >= 0) finish(null, buf.slice(0, end));
      // An answer line is a few dozen bytes; more without a line end is not memcached.
      else if (buf.length > 1024) finish(new Error(`unexpected answer to "${command}"`));
    });
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error('connection closed before memcached answered')));
  });
}

/** Sends `version` and resolves with what follows "VERSION "; rejects on anything else or timeout. */
export async function memcachedVersion(host: string, port: number, timeoutMs: number): Promise<string> {
  const line = await memcachedLine(host, port, 'version', timeoutMs);
  if (!line.startsWith('VERSION ')) throw new Error(`unexpected answer to "version": ${line.slice(0, 80)}`);
  return line.slice('VERSION '.length);
}

/** `flush_all`: every item invalidated (restore --into-cluster: pages of rows it took back). */
export async function memcachedFlushAll(host: string, port: number, timeoutMs: number): Promise<void> {
  const line = await memcachedLine(host, port, 'flush_all', timeoutMs);
  if (line !== 'OK') throw new Error(`memcached at ${host}:${port} answered "${line.slice(0, 80)}" to flush_all`);
}

export const memcachedDriver: ServiceDriver = {
  async prepare(ctx) {
    // Nothing to render; the directory holds the supervisor's service.log.
    fs.mkdirSync(ctx.svc.dir, { recursive: true, mode: 0o700 });
  },

  command(ctx: ServiceContext): ProcessSpec {
    return {
      command: 'memcached',
      args: memcachedArgs({
        address: ctx.svc.address,
        port: ctx.svc.port,
        memoryMb: ctx.topo.config.memcached.memoryMb,
        asRoot: ctx.asRoot,
      }),
      cwd: ctx.svc.dir,
    };
  },

  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    try {
      const version = await memcachedVersion(ctx.svc.address, ctx.svc.port, timeoutMs);
      return { healthy: true, role: 'memcached', detail: `version ${version}` };
    } catch (e) {
      return { healthy: false, role: 'memcached', detail: describeError(e) };
    }
  },
};

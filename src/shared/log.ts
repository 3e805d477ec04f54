import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON line per event on stdout; the supervisor sends each service's stdout to its log file. */
export function createLogger(name: string, bindings: Record<string, string> = {}): Logger {
  return pino({ name, level: process.env.HASTACK_LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } });
}

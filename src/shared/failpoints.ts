import { ErrorCode, HastackError } from './errors.js';

/*
 * Failpoints: named places where a test makes hastack stop as if its process had been killed
 * right there, at a point a signal from outside could only hit by luck (etcd's gofail, FreeBSD's
 * fail(9) do the same). Armed by `HASTACK_FAILPOINTS=name[,name...]` in the environment of the
 * process that runs the code (the detached supervisor inherits it from `hastack up`); each fires
 * once per process, as an error with the code FAILPOINT that the caller handles as its own death.
 * Unset (production), a failpoint is one string comparison.
 *
 * The places (grep `failpoint(`):
 * - `failover.after-<step>`, `switchover.after-<step>`: the step is done and journaled, the next
 *   not begun (steps.ts). The automatic mode's controller that hits it stops as a killed one
 *   would: no resignation, its election lease runs out, another controller resumes the journal.
 */

const fired = new Set<string>();

/** Throws HastackError FAILPOINT the first time `name` is reached in this process, if armed. */
export function failpoint(name: string): void {
  const armed = process.env['HASTACK_FAILPOINTS'];
  if (armed === undefined || fired.has(name) || !armed.split(',').some((n) => n.trim() === name)) return;
  fired.add(name);
  throw new HastackError(ErrorCode.FAILPOINT, `failpoint ${name} (HASTACK_FAILPOINTS): stopped here as if the process were killed`, { details: { failpoint: name } });
}

import fs from 'node:fs';
import { ErrorCode, HastackError } from './errors.js';

/*
 * Failpoints: named places where a test makes hastack stop as if its process had been killed
 * right there, at a point a signal from outside could only hit by luck (etcd's gofail, FreeBSD's
 * fail(9) do the same). Armed by `HASTACK_FAILPOINTS=name[,name...]` in the environment of the
 * process that runs the code (the detached supervisor inherits it from `hastack up`); each fires
 * once per process, as an error with the code FAILPOINT that the caller handles as its own death.
 * Or armed at run time, as gofail's switch does: `HASTACK_FAILPOINTS_FILE=PATH` names a file the
 * test writes later; a name on a line of it fires at every pass while it is there (read at each
 * pass: a file of a few bytes, and only when that variable is set).
 * Unset (production), a failpoint is two string comparisons.
 *
 * The places (grep `failpoint(`):
 * - `failover.after-<step>`, `switchover.after-<step>`: the step is done and journaled, the next
 *   not begun (steps.ts). The automatic mode's controller that hits it stops as a killed one
 *   would: no resignation, its election lease runs out, another controller resumes the journal.
 * - `fence.machine-silent`: the fence step finds the old primary's machine silent (no role
 *   recorded, no node killed: fence.ts), as a machine without power or network is, so the
 *   configured `failover.fence` command decides (a test's that exits 1: the automatic mode off).
 * - `guard.stuck-while-primary` (failpointArmed, then hang): the primary guards' thread hangs at
 *   the start of a round of the guard that holds the primary, as a loop stuck in a bug would
 *   (self-fence.ts); the watchdog of guard-thread.ts must stop that primary. A guard thread
 *   started again after it runs without failpoints (the process has hit it once).
 */

const fired = new Set<string>();

function armedInFile(name: string): boolean {
  const file = process.env['HASTACK_FAILPOINTS_FILE'];
  if (file === undefined) return false;
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .some((l) => l.trim() === name);
  } catch {
    return false;
  }
}

/** Throws HastackError FAILPOINT if `name` is armed: the first time it is reached in this process (HASTACK_FAILPOINTS), or while its file lists it. */
export function failpoint(name: string): void {
  if (armedInFile(name)) {
    throw new HastackError(ErrorCode.FAILPOINT, `failpoint ${name} (HASTACK_FAILPOINTS_FILE)`, { details: { failpoint: name } });
  }
  const armed = process.env['HASTACK_FAILPOINTS'];
  if (armed === undefined || fired.has(name) || !armed.split(',').some((n) => n.trim() === name)) return;
  fired.add(name);
  throw new HastackError(ErrorCode.FAILPOINT, `failpoint ${name} (HASTACK_FAILPOINTS): stopped here as if the process were killed`, { details: { failpoint: name } });
}

/** Whether `name` fires now (as failpoint): for a failpoint that does something other than throw. */
export function failpointArmed(name: string): boolean {
  try {
    failpoint(name);
    return false;
  } catch {
    return true;
  }
}

/**
 * Blocks this thread for good, as a loop stuck in a bug would: in slices of 50 ms, so that
 * Worker.terminate() still ends it (an interrupt is taken between two waits).
 */
export function hang(): never {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0, 50);
}

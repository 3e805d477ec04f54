import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { failpoint } from '../shared/failpoints.js';
import { writeJournal, type Journal, type StepName } from './journal.js';

/**
 * The code a step's failure carries when the error has none of its own (a driver error, a failed
 * file write): what the operator and the automatic mode must know is which guarantee is missing.
 * A HastackError keeps its code (HOST_UNREACHABLE, TIMEOUT... say more than the step does).
 */
const STEP_FAILURE: Partial<Record<StepName, ErrorCode>> = {
  // The old primary may still take writes: a split brain until it is fenced.
  fence: ErrorCode.FENCE_FAILED,
  promote: ErrorCode.PROMOTION_FAILED,
  repoint: ErrorCode.REPOINT_FAILED,
};

/** The error a failed step is rethrown as (see STEP_FAILURE). */
export function stepError(name: StepName, kind: Journal['kind'], e: unknown): unknown {
  const code = STEP_FAILURE[name];
  if (code === undefined || e instanceof HastackError) return e;
  return new HastackError(code, `${name} failed: ${describeError(e)}; run the ${kind} again (it resumes at this step)`, { cause: e, details: { step: name } });
}

/**
 * Runs the steps of a journal in order, skipping those already done (a resumed run): each one
 * is announced, timed, journaled and put in the event log as it finishes; a failure is logged
 * and rethrown with the journal left unfinished, so the next run resumes at that step.
 */
export async function executeSteps(
  stateDir: string,
  start: Journal,
  order: readonly StepName[],
  impl: Partial<Record<StepName, (j: Journal) => Promise<string | { message: string; journal: Journal }>>>,
  out: (line: string) => void,
  /** Asked before each step; throws to stop there (the automatic mode: its controller no longer leads). */
  mayGoOn?: () => void | Promise<void>,
): Promise<Journal> {
  let j = start;
  const t0 = Date.now();
  const at = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
  for (const name of order) {
    const step = impl[name];
    if (!step || j.steps[name]) continue;
    await mayGoOn?.();
    const s0 = Date.now();
    out(`${at()} ${name} ...`);
    let msg: string;
    try {
      const r = await step(j);
      if (typeof r === 'string') msg = r;
      else {
        msg = r.message;
        j = r.journal;
      }
    } catch (e) {
      const err = stepError(name, j.kind, e);
      const code = err instanceof HastackError ? err.code : ErrorCode.INTERNAL;
      appendEvent(stateDir, { type: 'failover.failed', message: `${j.kind} ${j.id}: ${name} failed: ${describeError(e)}`, data: { id: j.id, step: name, code } });
      throw err;
    }
    j = { ...j, steps: { ...j.steps, [name]: { doneAt: new Date().toISOString(), message: msg } } };
    writeJournal(stateDir, j);
    appendEvent(stateDir, { type: 'failover.step', message: `${j.kind} ${j.id}: ${name}: ${msg}`, data: { id: j.id, step: name, ms: Date.now() - s0 } });
    out(`${at()} ${name} done (${Date.now() - s0} ms): ${msg}`);
    failpoint(`${j.kind}.after-${name}`);
  }
  return j;
}

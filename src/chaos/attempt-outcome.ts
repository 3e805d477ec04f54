import { requestFailure } from '../shared/request-failure.js';
import type { AttemptOutcome } from './history.js';

/**
 * How a failed HTTP attempt failed, from the error undici (or the abort signal) threw: whether the
 * request was ever sent decides whether a browser would show an error (`reset`, `timeout`) or
 * quietly try the next address (`unreached`). See shared/request-failure.ts. Pure.
 */
export function outcomeOfError(e: unknown): AttemptOutcome {
  return requestFailure(e);
}

/** The outcome of an answered attempt: `ok` when the operation accepted it, else by status. */
export function outcomeOfStatus(status: number, accepted: boolean): AttemptOutcome {
  if (accepted) return 'ok';
  return status >= 500 && status <= 599 ? '5xx' : 'answered';
}

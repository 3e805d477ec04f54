/** A started long-running component. `close()` is idempotent and runs every cleanup step even when one fails. */
export interface Closeable {
  close(): Promise<void>;
}

/** Runs every step, remembers the first failure, and throws it after all steps ran. */
export async function closeAll(steps: ReadonlyArray<() => Promise<unknown> | unknown>): Promise<void> {
  let first: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}

/** Wraps a close function so a second call returns the first call's promise. */
export function once(close: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= close());
}

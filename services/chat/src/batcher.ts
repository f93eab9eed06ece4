/**
 * Gathers calls that arrive while the previous flush runs and settles them with one flush, so the
 * look-ups a post or a receipt needs cost one query per batch rather than one per call.
 */
export interface Batcher<I, O> {
  run(item: I): Promise<O>;
  /** Resolves when nothing is queued or flushing. */
  idle(): Promise<void>;
}

/** A flush answers each item, in order, with its result or the error that item alone fails with. */
export type Flush<I, O> = (items: I[]) => Promise<(O | Failure)[]>;

export class Failure {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

export function createBatcher<I, O>(
  flush: Flush<I, O>,
  options: { maxItems?: number; concurrency?: number } = {},
): Batcher<I, O> {
  const maxItems = options.maxItems ?? 2_000;
  const concurrency = options.concurrency ?? 1;
  let queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  let running = 0;
  let idleWaiters: (() => void)[] = [];

  const pump = () => {
    while (running < concurrency && queue.length > 0) {
      const batch = queue.slice(0, maxItems);
      queue = queue.slice(batch.length);
      running += 1;
      flush(batch.map((entry) => entry.item))
        .then(
          (results) =>
            batch.forEach((entry, index) => {
              const result = results[index];
              if (result instanceof Failure) entry.reject(result.error);
              else entry.resolve(result as O);
            }),
          (error: unknown) => batch.forEach((entry) => entry.reject(error)),
        )
        .finally(() => {
          running -= 1;
          pump();
          if (running === 0 && queue.length === 0) {
            const waiters = idleWaiters;
            idleWaiters = [];
            for (const resolve of waiters) resolve();
          }
        });
    }
  };

  return {
    run: (item) =>
      new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // Let calls arriving in the same tick join this batch.
        if (running === 0) queueMicrotask(pump);
        else pump();
      }),
    idle: () =>
      running === 0 && queue.length === 0
        ? Promise.resolve()
        : new Promise((resolve) => idleWaiters.push(resolve)),
  };
}

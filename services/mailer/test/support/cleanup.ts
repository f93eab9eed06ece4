/** Runs every clean-up step in order even when one fails, so no schema, queue or process is left behind. */
export async function cleanUp(...steps: readonly (() => unknown)[]): Promise<void> {
  let firstError: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      firstError ??= error;
    }
  }
  if (firstError !== undefined) {
    throw firstError instanceof Error ? firstError : new Error('clean-up failed', { cause: firstError });
  }
}

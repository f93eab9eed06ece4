/**
 * Preloaded into every test file's process (`node --import`): once the file's tests have finished, a
 * process that is still alive after TEST_EXIT_GRACE_MS (its own `after` hooks get that long) prints
 * what keeps it alive and exits with 1. Without it, a file whose teardown hangs (a hook that timed out
 * but left a timer, a socket or a server open) keeps Node's test runner, and so the whole test
 * command, waiting for ever; with it, the file fails and names what it left open.
 */
import { after } from 'node:test';

// Only inside a test file's process (the runner sets NODE_TEST_CONTEXT there), not in the runner.
if (process.env['NODE_TEST_CONTEXT']) {
  after(() => {
    const graceMs = Number(process.env['TEST_EXIT_GRACE_MS'] ?? 240_000);
    setTimeout(() => {
      const file = process.argv[1] ?? 'a test file';
      const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
      process.stderr.write(
        `[test watchdog] ${file}: still running ${graceMs} ms after its tests ended ` +
          `(a teardown hung or left something open); open resources: ${open.join(', ')}\n`,
      );
      process.exit(1);
    }, graceMs).unref();
  });
}

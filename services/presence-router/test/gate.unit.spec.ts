import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createGate } from '../src/statuses.ts';

it('the status gate runs at most its width at once, the rest in arrival order, and survives failures', async () => {
  const gate = createGate(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const releases: (() => void)[] = [];
  const tasks = Array.from({ length: 6 }, (_, i) =>
    gate(async () => {
      started.push(i);
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running -= 1;
      if (i === 1) throw new Error('task 1 fails');
      return i;
    }).catch(() => 'failed' as const),
  );
  // Release whatever runs, one at a time, until every task has finished.
  for (let done = 0; done < 6; done++) {
    while (releases.length === 0) await new Promise((r) => setImmediate(r));
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  const results = await Promise.all(tasks);
  assert.equal(most, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(results, [0, 'failed', 2, 3, 4, 5]);
  // The slots came back: a new task runs at once.
  assert.equal(await gate(async () => 'again'), 'again');
});

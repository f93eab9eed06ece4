/**
 * Port ranges drawn by two processes at once: reserved across processes, so no port is handed to both
 * before either binds it; released when the process that drew them exits.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const portsModule = path.join(import.meta.dirname, '../src/ports.ts');

/** A process that draws `count` ranges of `size`, prints them, and holds them until its stdin ends. */
function drawer(count: number, size: number) {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { freePortRange } from ${JSON.stringify(portsModule)};
       const ranges = [];
       for (let i = 0; i < ${count}; i++) ranges.push(await freePortRange(${size}));
       console.log(JSON.stringify(ranges));
       process.stdin.resume();
       await new Promise((resolve) => process.stdin.once('end', resolve));`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const drawn = new Promise<number[]>((resolve, reject) => {
    child.stdout.on('data', () => {
      if (!output.includes('\n')) return;
      const ranges = JSON.parse(output) as { min: number; max: number }[];
      resolve(ranges.flatMap(({ min, max }) => Array.from({ length: max - min + 1 }, (_, i) => min + i)));
    });
    child.once('exit', (code) => reject(new Error(`the drawer exited with ${code} before drawing`)));
  });
  return { child, drawn };
}

describe('port ranges', () => {
  it('two processes drawing at once never get the same port, and free theirs when they exit', async () => {
    // 80 ranges of 25 each: without the reservation, about a dozen would collide.
    const drawers = [drawer(80, 25), drawer(80, 25)];
    try {
      const [first, second] = await Promise.all(drawers.map((d) => d.drawn));
      assert.equal(first!.length, 2000);
      assert.equal(second!.length, 2000);
      const shared = first!.filter((port) => new Set(second).has(port));
      assert.deepEqual(shared, [], 'no port handed to both');
      const reservations = path.join(os.tmpdir(), 'veche-ports');
      const holder = (port: number) =>
        existsSync(path.join(reservations, String(port)))
          ? Number(readFileSync(path.join(reservations, String(port)), 'utf8'))
          : undefined;
      const firstPid = drawers[0]!.child.pid;
      assert.ok(
        first!.every((port) => holder(port) === firstPid || holder(port) === undefined),
        'reserved by the process that drew them',
      );
      drawers[0]!.child.stdin.end();
      await once(drawers[0]!.child, 'exit');
      // Another test file may have drawn one of them since: only this process's files must be gone.
      assert.ok(
        first!.every((port) => holder(port) !== firstPid),
        'released when the process exited',
      );
    } finally {
      // Ended by its stdin, not a signal: a process a signal ends runs no 'exit' handler, and its
      // reservations stay until another process finds it dead and takes them over.
      for (const { child } of drawers) if (child.exitCode === null) child.stdin.end();
      for (const { child } of drawers) if (child.exitCode === null) await once(child, 'exit');
    }
  });
});

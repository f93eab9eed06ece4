/**
 * The fleet's build of the web client: built when missing or older than its sources, left alone when
 * current, and safe when two fleets build at the same moment (parallel tests, a developer's two runs).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ensureWebClientBuilt, webClientStale } from '../web-client.ts';

const webDir = path.resolve(import.meta.dirname, '../../../clients/web');

/** A copy of the client's sources (node_modules linked) to build without touching the real dist. */
function copyOfClient(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'veche-web-'));
  for (const entry of ['src', 'index.html', 'vite.config.ts', 'package.json']) {
    cpSync(path.join(webDir, entry), path.join(dir, entry), { recursive: true });
  }
  // The real tsconfig extends the workspace's base, which is not beside the copy; Vite needs only JSX.
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { jsx: 'react-jsx' } }));
  symlinkSync(path.join(webDir, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

describe(
  'the fleet builds the web client',
  { skip: !existsSync(path.join(webDir, 'node_modules/vite')) && 'no vite' },
  () => {
    it('builds when dist is missing, not when current, and again when a source is newer', () => {
      const dir = copyOfClient();
      try {
        const notes: string[] = [];
        assert.equal(webClientStale(dir), true);
        assert.equal(
          ensureWebClientBuilt(dir, (l) => notes.push(l)),
          true,
        );
        assert.ok(existsSync(path.join(dir, 'dist/index.html')));
        assert.equal(webClientStale(dir), false);
        const before = notes.length;
        assert.equal(
          ensureWebClientBuilt(dir, (l) => notes.push(l)),
          true,
        );
        assert.equal(notes.length, before, 'a current build is left alone');
        const future = new Date(Date.now() + 60_000);
        utimesSync(path.join(dir, 'src/main.tsx'), future, future);
        assert.equal(webClientStale(dir), true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('two builds at once both succeed and leave one complete dist', async () => {
      const dir = copyOfClient();
      try {
        const build = () =>
          new Promise<boolean>((resolve, reject) => {
            const worker = new Worker(
              `import { ensureWebClientBuilt } from ${JSON.stringify(path.resolve(import.meta.dirname, '../web-client.ts'))};
             import { parentPort, workerData } from 'node:worker_threads';
             parentPort.postMessage(ensureWebClientBuilt(workerData, () => {}));`,
              { eval: true, workerData: dir, type: 'module' } as ConstructorParameters<typeof Worker>[1],
            );
            worker.once('message', (ok: boolean) => resolve(ok));
            worker.once('error', reject);
          });
        const results = await Promise.all([build(), build()]);
        assert.deepEqual(results, [true, true]);
        assert.ok(existsSync(path.join(dir, 'dist/index.html')));
        assert.deepEqual(
          readdirSync(dir).filter((f) => f.startsWith('dist-build-')),
          [],
          'no half-built folder left behind',
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);

/**
 * Keeps clients/web/dist in step with the client's sources: the fleet serves the built client at `/`,
 * so it builds it (Vite, ~5 s) when dist is missing or older than any source file. The build goes to a
 * fresh folder that then replaces dist, so a fleet serving dist never sees a half-written one.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

function newestMtime(entry: string): number {
  if (!existsSync(entry)) return 0;
  const stat = statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const child of readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, child)));
  return newest;
}

/** Whether the built client is missing or older than its sources. */
export function webClientStale(webDir: string): boolean {
  const built = path.join(webDir, 'dist/index.html');
  if (!existsSync(built)) return true;
  const sources = ['src', 'index.html', 'vite.config.ts', 'package.json'].map((p) => path.join(webDir, p));
  return Math.max(...sources.map(newestMtime)) > statSync(built).mtimeMs;
}

/** Builds the client when stale; returns false (after saying why) when the build failed. */
export function ensureWebClientBuilt(webDir: string, note: (line: string) => void): boolean {
  if (!existsSync(path.join(webDir, 'package.json')) || !webClientStale(webDir)) return true;
  const vite = path.join(webDir, 'node_modules/vite/bin/vite.js');
  if (!existsSync(vite)) {
    note('the web client is not built and its dependencies are not installed (pnpm install)');
    return false;
  }
  note('building the web client (clients/web)…');
  // Unique per build, not per process: two builds may run in one process (worker threads in tests).
  const outDir = `dist-build-${process.pid}-${randomBytes(4).toString('hex')}`;
  const started = Date.now();
  const result = spawnSync(process.execPath, [vite, 'build', '--outDir', outDir, '--logLevel', 'warn'], {
    cwd: webDir,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const built = path.join(webDir, outDir);
  if (result.status !== 0) {
    rmSync(built, { recursive: true, force: true });
    note('the web client did not build; serving what was there before');
    return false;
  }
  if (!swapIntoPlace(webDir, built)) {
    note('the web client could not be put in place (another build kept replacing it)');
    return false;
  }
  note(`web client built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

/**
 * Moves the fresh build to `dist`. Parallel fleets (tests) may build at the same moment: each moves
 * the current dist aside and its own in, retrying when another got there in between; whichever build
 * ends up in place is complete (they are identical).
 */
function swapIntoPlace(webDir: string, built: string): boolean {
  const dist = path.join(webDir, 'dist');
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const aside = `${built}-old-${attempt}`;
    try {
      renameSync(dist, aside);
    } catch {
      // No dist, or another process just moved it: either way the name is free to try.
    }
    try {
      renameSync(built, dist);
      rmSync(aside, { recursive: true, force: true });
      return true;
    } catch {
      rmSync(aside, { recursive: true, force: true });
      // Another build took the name between our two renames: if it is complete, so are we.
      if (existsSync(path.join(dist, 'index.html'))) {
        rmSync(built, { recursive: true, force: true });
        return true;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); // a short synchronous pause
    }
  }
  rmSync(built, { recursive: true, force: true });
  return false;
}

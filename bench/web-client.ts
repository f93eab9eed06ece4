/**
 * The web client's two figures (issue 8): the JavaScript the first screen downloads (gzipped; target
 * under 250 KB) and its time to interactive in Debian's Chromium, on loopback and under a throttled
 * "slow 4G + 4x slower CPU" profile. Builds clients/web, serves dist/ from a small static server (SPA
 * fallback, gzip as nginx does), and loads /login in a fresh browser context per run (cold cache).
 *
 * Usage: node bench/web-client.ts [--runs N] [--help]
 * "Interactive" = the login form is rendered by React and its button accepts a click (the moment a
 * MutationObserver sees the enabled submit button), measured from navigation start.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { chromiumArgs, executablePath } from '../clients/web/test/support/chromium.ts';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(`Usage: node bench/web-client.ts [--runs N]
Builds clients/web and prints the first screen's gzipped JavaScript and its time to interactive
(median of N cold loads, default 7) in /usr/bin/chromium (CHROMIUM_PATH), unthrottled and throttled.`);
  process.exit(0);
}
const runsIndex = args.indexOf('--runs');
const runs = runsIndex >= 0 ? Number(args[runsIndex + 1]) : 7;
if (!Number.isInteger(runs) || runs < 1) {
  console.error('--runs needs a positive whole number');
  process.exit(2);
}

const webDir = path.resolve(import.meta.dirname, '../clients/web');
const dist = path.join(webDir, 'dist');

const build = spawnSync(
  process.execPath,
  [path.join(webDir, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
  {
    cwd: webDir,
    stdio: 'inherit',
  },
);
if (build.status !== 0) process.exit(build.status ?? 1);

// What the first screen loads: the entry script and everything it imports statically (modulepreload).
const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
const firstScreen = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
const gz = (file: string) => gzipSync(readFileSync(path.join(dist, file)), { level: 9 }).length;
const firstBytes = firstScreen.reduce((sum, f) => sum + gz(f), 0);
const assetsDir = path.join(dist, 'assets');
const lazy = readdirSync(assetsDir).filter((f) => f.endsWith('.js') && !firstScreen.includes(`assets/${f}`));
const lazyBytes = lazy.reduce((sum, f) => sum + gz(`assets/${f}`), 0);

const types: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.html': 'text/html',
  '.svg': 'image/svg+xml',
};
const server = http.createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://x');
  let file = path.join(dist, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ''));
  if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory())
    file = path.join(dist, 'index.html');
  const body = gzipSync(readFileSync(file));
  response.writeHead(200, {
    'content-type': types[path.extname(file)] ?? 'application/octet-stream',
    'content-encoding': 'gzip',
    'cache-control': 'no-store',
  });
  response.end(body);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [...chromiumArgs],
});

async function load(throttled: boolean): Promise<{ interactive: number; domContentLoaded: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  const page = await context.newPage();
  if (throttled) {
    const cdp = await context.newCDPSession(page);
    // Chrome DevTools' "slow 4G"-like profile: 150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up; CPU 4x slower.
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 150,
      downloadThroughput: (1.6 * 1024 * 1024) / 8,
      uploadThroughput: (750 * 1024) / 8,
    });
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  }
  // Page-side code as strings: this file is type-checked for Node, not for the DOM.
  await page.addInitScript(`
    new MutationObserver(() => {
      const button = document.querySelector('.auth-card form button');
      if (button && !button.disabled && window.__interactive === undefined) window.__interactive = performance.now();
    }).observe(document, { childList: true, subtree: true });
  `);
  await page.goto(`${origin}/login`);
  await page.waitForFunction('window.__interactive !== undefined');
  const result = await page.evaluate<{ interactive: number; domContentLoaded: number }>(`({
    interactive: window.__interactive,
    domContentLoaded: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
  })`);
  await context.close();
  return result;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

console.log(
  `first screen JavaScript (gzip -9): ${kb(firstBytes)} in ${firstScreen.length} file(s): ${firstScreen.join(', ')}`,
);
console.log(`loaded after sign-in (autobahn, lazily): ${kb(lazyBytes)} in ${lazy.length} file(s)`);
console.log(`target: under 250 KB for the first screen — ${firstBytes < 250 * 1024 ? 'met' : 'MISSED'}`);
for (const throttled of [false, true]) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await load(throttled));
  console.log(
    `${throttled ? 'slow 4G + 4x CPU' : 'loopback, no throttling'}: interactive ${median(samples.map((s) => s.interactive)).toFixed(0)} ms (median of ${runs}; min ${Math.min(...samples.map((s) => s.interactive)).toFixed(0)}, max ${Math.max(...samples.map((s) => s.interactive)).toFixed(0)}), DOMContentLoaded ${median(samples.map((s) => s.domContentLoaded)).toFixed(0)} ms`,
  );
}
await browser.close();
server.close();

/**
 * The Chromium every browser test and the web-client bench launch: Debian's, or CHROMIUM_PATH; the
 * flags this machine needs (no sandbox as root, no GPU) and none that call home.
 */
export const executablePath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export const chromiumArgs: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The certificate flow against a real ACME server: Debian's pebble (the Let's Encrypt test CA) with
 * pebble-challtestsrv as its DNS, certbot in webroot mode through Debian's nginx, driven by the same
 * scripts the stack runs (veche-certbot, veche-tls-sync, and certbot's deploy hook logs-tls-hook). Issue,
 * install, renew, and a graceful reload that serves the new certificate while a request in flight
 * finishes undisturbed; the log-listener's copy of the pair follows each certificate (modes, owner,
 * content) and loads as a TLS pair.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { freePort } from '../../fleet/processes.ts';
import {
  nginxBin,
  nginxSite,
  requireCommands,
  run,
  runOrThrow,
  tempDir,
  withSbin,
  writeFile,
  type NginxSite,
} from './support/system.ts';

const domain = 'veche.test';
const logsTlsHook = path.resolve(import.meta.dirname, '../logs-tls-hook');
/** Not the test's own group: the hook must set it. */
const logsTlsGid = 4242;

/** The log-listener's copy of the pair: each file's mode and group, its content, and the folder's. */
function logsTlsPair(dir: string) {
  const file = (name: string) => {
    const stat = statSync(path.join(dir, name));
    return {
      mode: stat.mode & 0o777,
      uid: stat.uid,
      gid: stat.gid,
      pem: readFileSync(path.join(dir, name), 'utf8'),
    };
  };
  const folder = statSync(dir);
  return {
    dir: { mode: folder.mode & 0o777, gid: folder.gid },
    cert: file('fullchain.pem'),
    key: file('privkey.pem'),
  };
}

/** The copy is certbot's live pair, root:gid, the key 0640 and the folder 0750, and loads as a pair. */
function assertLogsTlsCopy(dir: string, live: string): void {
  const pair = logsTlsPair(dir);
  assert.deepEqual(pair.dir, { mode: 0o750, gid: logsTlsGid });
  assert.deepEqual(
    { ...pair.cert, pem: undefined },
    { mode: 0o644, uid: 0, gid: logsTlsGid, pem: undefined },
  );
  assert.deepEqual({ ...pair.key, pem: undefined }, { mode: 0o640, uid: 0, gid: logsTlsGid, pem: undefined });
  assert.equal(pair.cert.pem, readFileSync(path.join(live, 'fullchain.pem'), 'utf8'));
  assert.equal(pair.key.pem, readFileSync(path.join(live, 'privkey.pem'), 'utf8'));
  // What the log-listener does with them (a mismatched pair throws).
  tls.createSecureContext({ cert: pair.cert.pem, key: pair.key.pem });
}

interface Served {
  issuer: string;
  serial: string;
  authorized: boolean;
}

/** The certificate nginx presents for `domain`, and whether it verifies against `ca`. */
function servedCertificate(port: number, ca?: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, servername: domain, rejectUnauthorized: false, ...(ca ? { ca } : {}) },
      () => {
        const cert = socket.getPeerCertificate();
        resolve({
          issuer: String(cert.issuer.CN ?? ''),
          serial: cert.serialNumber,
          authorized: socket.authorized,
        });
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

function startProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

async function waitFor(check: () => Promise<boolean>, what: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not start:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("Let's Encrypt flow with pebble, certbot and nginx", () => {
  const dir = tempDir('acme');
  const caPem = path.join(dir, 'ca.pem');
  const logsTlsDir = path.join(dir, 'logs-tls');
  const live = () => path.join(site.letsencryptDir, 'live', domain);
  let pebble: ReturnType<typeof startProcess>;
  let challtestsrv: ReturnType<typeof startProcess>;
  let site: NginxSite;
  let slowBackend: http.Server;
  let pebbleRoot = '';
  let directory = '';
  let managementPort = 0;
  let certbotEnv: NodeJS.ProcessEnv;
  const certbotArgs = [
    '--work-dir',
    path.join(dir, 'certbot-work'),
    '--logs-dir',
    path.join(dir, 'certbot-logs'),
  ];

  before(async () => {
    requireCommands('nginx', 'certbot', 'pebble', 'pebble-challtestsrv', 'openssl', 'envsubst');
    // A throwaway CA for pebble's own HTTPS listener (Debian's package ships no test certificates).
    runOrThrow('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=Veche test CA',
      '-keyout',
      path.join(dir, 'ca.key'),
      '-out',
      caPem,
    ]);
    runOrThrow('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      path.join(dir, 'pebble.key'),
      '-out',
      path.join(dir, 'pebble.csr'),
    ]);
    writeFile(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    runOrThrow('openssl', [
      'x509',
      '-req',
      '-in',
      path.join(dir, 'pebble.csr'),
      '-CA',
      caPem,
      '-CAkey',
      path.join(dir, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      path.join(dir, 'san.ext'),
      '-out',
      path.join(dir, 'pebble.pem'),
    ]);

    const [acmePort, mgmtPort, dnsPort, challMgmtPort, httpPort, httpsPort, tlsAlpnPort] = await Promise.all(
      Array.from({ length: 7 }, () => freePort()),
    );
    managementPort = mgmtPort!;
    directory = `https://127.0.0.1:${acmePort}/dir`;

    // challtestsrv answers every A query with 127.0.0.1: the test domain resolves to our nginx.
    challtestsrv = startProcess('pebble-challtestsrv', [
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-management',
      `127.0.0.1:${challMgmtPort}`,
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
    ]);
    writeFile(
      path.join(dir, 'pebble.json'),
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: path.join(dir, 'pebble.pem'),
          privateKey: path.join(dir, 'pebble.key'),
          // pebble validates http-01 on this port: nginx's plain HTTP listener.
          httpPort,
          tlsPort: tlsAlpnPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    pebble = startProcess(
      'pebble',
      ['-config', path.join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`],
      {
        PEBBLE_VA_NOSLEEP: '1',
        PEBBLE_WFE_NONCEREJECT: '0',
      },
    );

    // A backend that takes eight seconds to answer: the request in flight across the reload.
    slowBackend = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(`chunk ${sent}\n`);
        sent += 1;
        if (sent === 40) {
          clearInterval(timer);
          res.end('done\n');
        }
      }, 200);
    });
    await new Promise<void>((resolve) => slowBackend.listen(0, '127.0.0.1', resolve));
    const backend = `127.0.0.1:${(slowBackend.address() as { port: number }).port}`;

    site = nginxSite({
      httpPort: httpPort!,
      httpsPort: httpsPort!,
      domain,
      upstreams: { api: backend, ws: backend, pubsub: backend, visualizer: backend },
    });
    writeFile(path.join(site.webRoot, 'index.html'), '<!doctype html><title>Veche</title>');
    await site.start();

    const ca = await import('node:fs').then((fs) => fs.readFileSync(caPem, 'utf8'));
    await waitFor(
      async () => (await fetchText(`https://127.0.0.1:${mgmtPort}/roots/0`, ca)).startsWith('-----BEGIN'),
      'pebble',
      () => pebble.output() + challtestsrv.output(),
    );
    certbotEnv = {
      ...site.env,
      VECHE_ACME_EMAIL: 'operators@veche.test',
      VECHE_ACME_SERVER: directory,
      // certbot (python-requests) trusts pebble's listener through this bundle.
      REQUESTS_CA_BUNDLE: caPem,
      // As in stack.yml: certbot runs the hook after each certificate.
      VECHE_DEPLOY_HOOK: logsTlsHook,
      VECHE_LOGS_TLS_DIR: logsTlsDir,
      VECHE_LOGS_TLS_GID: String(logsTlsGid),
    };
  });

  after(async () => {
    await site?.stop();
    slowBackend?.close();
    pebble?.child.kill('SIGTERM');
    challtestsrv?.child.kill('SIGTERM');
  });

  it('starts nginx with the temporary self-signed certificate', async () => {
    const served = await servedCertificate(site.httpsPort);
    assert.equal(served.issuer, domain, 'self-signed: issued by itself');
  });

  it("gives the log-listener a temporary pair before the first certificate (the loop's start)", () => {
    const seeded = run(logsTlsHook, ['--seed'], certbotEnv);
    assert.equal(seeded.status, 0, seeded.stderr);
    assert.match(seeded.stderr, /temporary self-signed pair/);
    const pair = logsTlsPair(logsTlsDir);
    assert.deepEqual(pair.dir, { mode: 0o750, gid: logsTlsGid });
    assert.equal(pair.key.mode, 0o640);
    const cert = new X509Certificate(pair.cert.pem);
    assert.equal(cert.subject, `CN=${domain}`);
    tls.createSecureContext({ cert: pair.cert.pem, key: pair.key.pem });
    // Without a certificate and without --seed there is nothing to copy.
    const plain = run(logsTlsHook, [], certbotEnv);
    assert.notEqual(plain.status, 0);
    assert.match(plain.stderr, /no certificate in/);
  });

  it('obtains the first certificate through nginx (webroot) and serves it after a graceful reload', async () => {
    const workersBefore = site.workers();
    const issued = run(path.join(nginxBin, 'veche-certbot'), ['--once', '--', ...certbotArgs], certbotEnv);
    assert.equal(issued.status, 0, `${issued.stdout}\n${issued.stderr}\n${pebble.output().slice(-3000)}`);
    assert.match(issued.stderr, /obtaining the first certificate/);

    const sync = run(path.join(nginxBin, 'veche-tls-sync'), ['--once'], certbotEnv);
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(sync.stderr, /nginx reloaded/);

    pebbleRoot = await fetchText(`https://127.0.0.1:${managementPort}/roots/0`, await readCa(caPem));
    const served = await eventuallyServed(site.httpsPort, pebbleRoot, (s) => /Pebble/i.test(s.issuer));
    assert.ok(served.authorized, "the served chain verifies against pebble's root");
    // Until the workers of the temporary certificate are gone, a new connection may still reach one.
    await site.workersGone(workersBefore);
    assert.match((await servedCertificate(site.httpsPort, pebbleRoot)).issuer, /Pebble/i);

    // certbot ran the deploy hook: the temporary pair is replaced by the issued one.
    assert.match(issued.stderr, /logs-tls-hook.*installed the pair from/);
    assertLogsTlsCopy(logsTlsDir, live());
  });

  it('does nothing when the certificate has not changed', () => {
    const sync = run(path.join(nginxBin, 'veche-tls-sync'), ['--once'], certbotEnv);
    assert.equal(sync.status, 0, sync.stderr);
    assert.doesNotMatch(sync.stderr, /reloaded/);
  });

  it('renews, and the watching nginx serves the new certificate without dropping a request in flight', async () => {
    const before = await servedCertificate(site.httpsPort, pebbleRoot);
    const copiedBefore = logsTlsPair(logsTlsDir).cert.pem;
    // The nginx container's background watcher, as it runs in production (every second here).
    const watcher = startProcess(
      path.join(nginxBin, 'veche-tls-sync'),
      ['--watch', '1'],
      withSbin({ ...process.env, ...certbotEnv }),
    );
    try {
      let finishedAt = 0;
      const inFlight = fetchText(`https://127.0.0.1:${site.httpsPort}/api/slow`, pebbleRoot, domain).finally(
        () => (finishedAt = Date.now()),
      );
      await new Promise((r) => setTimeout(r, 300));

      const renewed = run(
        path.join(nginxBin, 'veche-certbot'),
        ['--once', '--', ...certbotArgs, '--force-renewal', '--no-random-sleep-on-renew'],
        certbotEnv,
      );
      assert.equal(renewed.status, 0, `${renewed.stdout}\n${renewed.stderr}`);
      assert.match(renewed.stderr, /renewing the certificate/);

      const after = await eventuallyServed(site.httpsPort, pebbleRoot, (s) => s.serial !== before.serial);
      const reloadedAt = Date.now();
      assert.ok(after.authorized);
      assert.match(watcher.output(), /nginx reloaded/);
      const body = await inFlight;
      assert.match(body, /chunk 39\ndone\n$/, 'the request begun before the reload completed');
      assert.ok(finishedAt > reloadedAt, 'the request was still in flight when nginx reloaded');

      // The renewal ran the hook again: the log-listener's copy is the renewed pair.
      assert.match(renewed.stderr, /logs-tls-hook.*installed the pair from/);
      assertLogsTlsCopy(logsTlsDir, live());
      assert.notEqual(logsTlsPair(logsTlsDir).cert.pem, copiedBefore, 'the renewed certificate was copied');
    } finally {
      watcher.child.kill('SIGTERM');
    }
  });

  it('refuses to run without the contact e-mail, and documents the staging switch', () => {
    const help = run(path.join(nginxBin, 'veche-certbot'), ['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /VECHE_ACME_STAGING=1/);
    const missing = run(path.join(nginxBin, 'veche-certbot'), ['--once'], {
      VECHE_DOMAIN: domain,
      VECHE_ACME_EMAIL: '',
    });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /VECHE_ACME_EMAIL must be set/);
  });
});

async function readCa(file: string): Promise<string> {
  const fs = await import('node:fs');
  return fs.readFileSync(file, 'utf8');
}

/** GET over HTTPS trusting `ca` (fetch takes no per-request CA), resolving with the body. */
function fetchText(url: string, ca: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { hostname, port, pathname } = new URL(url);
    const request = tls.connect(
      {
        host: hostname,
        port: Number(port),
        servername: servername ?? 'localhost',
        ca,
        ALPNProtocols: ['http/1.1'],
      },
      () => {
        request.write(
          `GET ${pathname} HTTP/1.1\r\nHost: ${servername ?? hostname}\r\nConnection: close\r\n\r\n`,
        );
      },
    );
    let raw = '';
    request.on('data', (d: Buffer) => (raw += d.toString()));
    request.on('end', () => {
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      let body = rest.join('\r\n\r\n');
      if (/transfer-encoding: chunked/i.test(head)) body = dechunk(body);
      if (!/^HTTP\/1\.1 200/.test(head)) reject(new Error(`GET ${url}: ${head.split('\r\n')[0]}`));
      else resolve(body);
    });
    request.on('error', reject);
  });
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd < 0) return out;
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

async function eventuallyServed(port: number, ca: string, ok: (s: Served) => boolean): Promise<Served> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const served = await servedCertificate(port, ca);
    if (ok(served)) return served;
    if (Date.now() > deadline) throw new Error(`nginx still serves ${JSON.stringify(served)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

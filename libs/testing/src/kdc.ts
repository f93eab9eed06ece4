/**
 * A real MIT Kerberos KDC for tests: a throw-away realm on loopback, its own database, krb5.conf and
 * kdc.conf in a temporary folder (KRB5_CONFIG / KRB5_KDC_PROFILE point there, never at /etc), made
 * with kdb5_util and kadmin.local, served by krb5kdc in the foreground. Principals, keytabs (ktadd)
 * and client tickets (kinit, each in its own credential cache) are made by the real tools.
 * Needs Debian's krb5-kdc, krb5-admin-server and krb5-user (scripts/lib/preflight.ts installs them).
 *
 * The one way tests make a realm: `startKdc`, then `addUser` (a password principal that can kinit)
 * and `addService` (the gateway's HTTP/<host> principal, its keytab and the gateway's environment).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';

/** A user principal of the test realm, with the password kinit takes. */
export interface KerberosUser {
  /** `name@REALM`, as the gateway's mapping names it. */
  principal: string;
  password: string;
  /** A ticket from a real kinit, in a credential cache of its own; returns `FILE:<path>`. */
  kinit(options?: { lifetime?: string }): string;
}

/** The gateway's service principal `HTTP/<host>` and its keytab. */
export interface KerberosService {
  host: string;
  /** `HTTP/<host>@REALM`. */
  principal: string;
  /** The GSS host-based name clients ask for, `HTTP@<host>` (GATEWAY_KERBEROS_SERVICE). */
  name: string;
  keytab: string;
  /** The gateway's environment to accept this service's tickets (keytab, name, realm, replay cache). */
  gatewayEnv: Record<string, string>;
}

export interface TestKdc {
  realm: string;
  /** The krb5.conf clients and services of this realm use. */
  krb5Config: string;
  dir: string;
  /**
   * Environment for a krb5 tool, library or browser of this realm: KRB5_CONFIG and KRB5CCNAME, the
   * given credential cache or, without one, {@link TestKdc.noTicket} (never the machine's default cache).
   */
  env(ccache?: string): NodeJS.ProcessEnv;
  /** A credential cache that holds no ticket (nobody ever kinits into it). */
  noTicket: string;
  /** A user principal with a password (`addPrincipal`), ready to kinit. */
  addUser(name: string, password?: string): KerberosUser;
  /** The service principal `HTTP/<host>` (random key) and its keytab. */
  addService(host: string): KerberosService;
  /** `kadmin.local addprinc` with a password, or a random key. */
  addPrincipal(name: string, password?: string): void;
  /** `kadmin.local ktadd`: the principal's keys in a new keytab file; returns its path. */
  keytab(principal: string, file?: string): string;
  /** `kinit` with the password on stdin into a private credential cache; returns `FILE:<path>`. */
  kinit(principal: string, password: string, options?: { lifetime?: string }): string;
  stop(): Promise<void>;
}

/** The admin tools live in /usr/sbin, which is not always on PATH; kinit is a user tool. */
const sbin = (tool: string) => (tool === 'kinit' ? tool : `/usr/sbin/${tool}`);

/**
 * Starts a KDC of `realm` (default: a unique one). `hosts` are the host names whose services belong
 * to the realm (domain_realm), so `HTTP@<host>` names resolve without DNS. `clockSkewSeconds` (MIT's
 * default 300) is also how long after its end a ticket is still taken.
 */
export async function startKdc(
  options: { realm?: string; hosts?: string[]; clockSkewSeconds?: number } = {},
): Promise<TestKdc> {
  const realm = options.realm ?? `VECHE${Math.floor(Math.random() * 1e9)}.TEST`;
  const dir = mkdtempSync(path.join(tmpdir(), 'veche-kdc-'));
  const port = await freePort();
  const krb5Config = path.join(dir, 'krb5.conf');
  const kdcProfile = path.join(dir, 'kdc.conf');
  const hosts = options.hosts ?? ['veche.test'];
  writeFileSync(
    krb5Config,
    `[libdefaults]
  default_realm = ${realm}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
  dns_canonicalize_hostname = false
  udp_preference_limit = 1
  ticket_lifetime = 1h
  clockskew = ${options.clockSkewSeconds ?? 300}
[realms]
  ${realm} = {
    kdc = 127.0.0.1:${port}
  }
[domain_realm]
${hosts.map((h) => `  ${h} = ${realm}\n  .${h} = ${realm}`).join('\n')}
`,
  );
  writeFileSync(
    kdcProfile,
    `[kdcdefaults]
  kdc_ports = ${port}
  kdc_tcp_ports = ${port}
[realms]
  ${realm} = {
    database_name = ${dir}/principal
    key_stash_file = ${dir}/stash
    acl_file = ${dir}/kadm5.acl
    kdc_listen = 127.0.0.1:${port}
    kdc_tcp_listen = 127.0.0.1:${port}
    max_life = 10h
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }
[logging]
  kdc = FILE:${dir}/kdc.log
`,
  );
  writeFileSync(path.join(dir, 'kadm5.acl'), '');
  const noTicket = `FILE:${path.join(dir, 'cc-none')}`;
  const env = (ccache?: string): NodeJS.ProcessEnv => ({
    ...process.env,
    KRB5_CONFIG: krb5Config,
    KRB5_KDC_PROFILE: kdcProfile,
    KRB5_TRACE: path.join(dir, 'trace.log'),
    KRB5CCNAME: ccache ?? noTicket,
  });
  const run = (tool: string, args: string[], input?: string, ccache?: string) => {
    const result = spawnSync(sbin(tool), args, {
      env: env(ccache),
      input: input ?? '',
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (result.status !== 0)
      throw new Error(
        `${tool} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`,
      );
    return result.stdout;
  };
  const kadmin = (query: string) => run('kadmin.local', ['-r', realm, '-q', query]);

  run('kdb5_util', ['create', '-s', '-r', realm, '-P', 'master-key-for-tests-only']);
  const kdc: ChildProcess = spawn('/usr/sbin/krb5kdc', ['-n', '-r', realm], {
    env: env(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  kdc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => kdc.once('exit', () => resolve()));
  // Listening once the log says so (or it died).
  const deadline = Date.now() + 30_000;
  for (;;) {
    let log = '';
    try {
      log = readFileSync(path.join(dir, 'kdc.log'), 'utf8');
    } catch {
      // not written yet
    }
    if (/commencing operation/.test(log)) break;
    if (kdc.exitCode !== null) throw new Error(`krb5kdc exited: ${stderr}${log}`);
    if (Date.now() > deadline) throw new Error(`krb5kdc did not start: ${stderr}${log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const fileName = (principal: string) => principal.replace(/[^A-Za-z0-9]/g, '_');
  let caches = 0;
  const testKdc: TestKdc = {
    realm,
    krb5Config,
    dir,
    env,
    noTicket,
    addPrincipal(name, password) {
      kadmin(password === undefined ? `addprinc -randkey ${name}` : `addprinc -pw ${password} ${name}`);
    },
    keytab(principal, file) {
      const target = file ?? path.join(dir, `${fileName(principal)}.keytab`);
      kadmin(`ktadd -k ${target} ${principal}`);
      return target;
    },
    kinit(principal, password, { lifetime } = {}) {
      caches += 1;
      const ccache = `FILE:${path.join(dir, `cc-${fileName(principal)}-${caches}`)}`;
      run('kinit', [...(lifetime ? ['-l', lifetime] : []), principal], `${password}\n`, ccache);
      return ccache;
    },
    addUser(name, password = `${name}-kerberos-pw`) {
      testKdc.addPrincipal(name, password);
      const principal = `${name}@${realm}`;
      return { principal, password, kinit: (options) => testKdc.kinit(principal, password, options) };
    },
    addService(host) {
      testKdc.addPrincipal(`HTTP/${host}`);
      const keytab = testKdc.keytab(`HTTP/${host}`);
      const name = `HTTP@${host}`;
      return {
        host,
        principal: `HTTP/${host}@${realm}`,
        name,
        keytab,
        gatewayEnv: {
          GATEWAY_KERBEROS_KEYTAB: keytab,
          GATEWAY_KERBEROS_SERVICE: name,
          KRB5_CONFIG: krb5Config,
          // MIT's replay cache of the acceptor, private to this realm's run.
          KRB5RCACHEDIR: dir,
        },
      };
    },
    async stop() {
      if (kdc.exitCode === null) {
        kdc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return testKdc;
}

/**
 * "Sign in with Kerberos" in Debian's Chromium against the local fleet (issue 20): a real MIT KDC in a
 * throw-away realm (libs/testing's kdc.ts), the gateway's keytab for HTTP/localhost, a ticket from a
 * real kinit in a credential cache that Chromium's GSSAPI library (MIT's libgssapi_krb5) reads
 * (KRB5CCNAME, KRB5_CONFIG). Chromium does SPNEGO itself: the client's POST /api/auth/negotiate gets
 * 401 `WWW-Authenticate: Negotiate`, Chromium asks the KDC for a ticket for HTTP@localhost (the server
 * is allowed by --auth-server-allowlist) and sends the request again with its token. With no ticket,
 * or a principal no admin linked, the login page says which.
 *
 * What it took (Chromium 156's net-log, --log-net-log, and the krb5 trace, KRB5_TRACE):
 * - The host is `localhost` as typed: with --disable-auth-negotiate-cname-lookup Chromium names the
 *   service after the URL's host, except that a name mapped by --host-resolver-rules becomes the
 *   mapped address (it asked for HTTP/127.0.0.1, "not found in Kerberos database").
 * - Chromium answers the first Negotiate challenge after it starts with no token
 *   (AUTH_HANDLER_CREATE_RESULT ERR_UNSUPPORTED_AUTH_SCHEME, before loading libgssapi_krb5); the next
 *   one works. The client asks once more when no token came (clients/web/src/session/kerberos.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chromiumArgs, executablePath } from './support/chromium.ts';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';
import { startKdc, type KerberosUser, type TestKdc } from '../../../libs/testing/src/kdc.ts';

const host = 'localhost';

describe(
  'Sign in with Kerberos, in a browser',
  { skip: !existsSync(executablePath) && `no Chromium at ${executablePath}` },
  () => {
    let kdc: TestKdc;
    let fleet: Fleet;
    let alice: KerberosUser;
    let mallory: KerberosUser;
    let aliceId = '';
    const browsers: Browser[] = [];
    let origin = '';

    const api = async <T>(method: string, url: string, body?: unknown, token?: string) => {
      const response = await fetch(`${fleet.origin}/api${url}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, json: (await response.json()) as T };
    };
    const signUp = async (name: string, displayName: string) => {
      const email = `${name}@example.org`;
      const password = 'long enough password';
      assert.equal((await api('POST', '/auth/register', { email, password, displayName })).status, 201);
      return (await api<{ userId: string; accessToken: string }>('POST', '/auth/login', { email, password }))
        .json;
    };

    /** The login page of a Chromium whose GSSAPI library uses this realm and `ccache` (KRB5CCNAME). */
    const loginPageWith = async (ccache: string): Promise<Page> => {
      const browser = await chromium.launch({
        executablePath,
        headless: true,
        env: kdc.env(ccache),
        args: [
          ...chromiumArgs,
          `--auth-server-allowlist=${host}`,
          // The SPN is HTTP@localhost as typed (no DNS canonicalisation, no port).
          '--disable-auth-negotiate-cname-lookup',
        ],
      });
      browsers.push(browser);
      const page = await browser.newPage({ locale: 'en-US' });
      page.setDefaultTimeout(60_000);
      await page.goto(`${origin}/login`);
      return page;
    };

    before(async () => {
      kdc = await startKdc({ hosts: [host] });
      alice = kdc.addUser('alice');
      mallory = kdc.addUser('mallory');
      const service = kdc.addService(host);
      fleet = await startFleet({
        env: {
          REQUIRE_VERIFIED_EMAIL: 'false',
          VECHE_ADMIN_EMAIL: 'admin@example.org',
          ACCESS_TOKEN_TTL_SECONDS: '600',
          ...service.gatewayEnv,
        },
      });
      origin = `http://${host}:${new URL(fleet.origin).port}`;
      const admin = await signUp('admin', 'Admin');
      aliceId = (await signUp('alice', 'Alice Liddell')).userId;
      const mapped = await api(
        'PUT',
        `/admin/users/${aliceId}/kerberos`,
        { principals: [alice.principal] },
        admin.accessToken,
      );
      assert.equal(mapped.status, 200, JSON.stringify(mapped.json));
    });

    after(async () => {
      for (const browser of browsers) await browser.close().catch(() => undefined);
      await fleet?.stop();
      await kdc?.stop();
    });

    it('logs alice in with her ticket from kinit, the browser doing SPNEGO', async () => {
      const page = await loginPageWith(alice.kinit());
      await page.getByRole('button', { name: 'Sign in with Kerberos' }).click();
      // No password anywhere: only the ticket Chromium turned into a Negotiate token gets her in.
      await page.getByRole('navigation', { name: 'Rooms' }).waitFor({ state: 'attached' });
      // Signed in as the account her principal is linked to: her name in the sidebar…
      await page.locator('.me-name', { hasText: 'Alice Liddell' }).waitFor();
      // …and the client's tokens open /api as her.
      const me = await page.evaluate(async () => {
        const { accessToken } = JSON.parse(localStorage.getItem('veche.session') ?? '{}') as {
          accessToken?: string;
        };
        const response = await fetch('/api/me', {
          headers: { authorization: `Bearer ${accessToken ?? ''}` },
        });
        return {
          status: response.status,
          body: (await response.json()) as { userId?: string; email?: string },
        };
      });
      assert.equal(me.status, 200, JSON.stringify(me.body));
      assert.equal(me.body.userId, aliceId);
      assert.equal(me.body.email, 'alice@example.org');
    });

    it('says so when the browser has no ticket (no kinit)', async () => {
      const page = await loginPageWith(kdc.noTicket);
      await page.getByRole('button', { name: 'Sign in with Kerberos' }).click();
      await page.getByRole('alert').getByText('Your browser sent no Kerberos ticket').waitFor();
      assert.match(page.url(), /\/login/);
    });

    it('refuses a principal no admin linked, saying so on the login page', async () => {
      const page = await loginPageWith(mallory.kinit());
      await page.getByRole('button', { name: 'Sign in with Kerberos' }).click();
      await page
        .getByRole('alert')
        .getByText('Your Kerberos principal is not linked to an account')
        .waitFor();
      assert.match(page.url(), /\/login/);
    });
  },
);

/**
 * Veche as two people use it, in Debian's Chromium driven by playwright-core, against the real local
 * fleet (gateway, chat, mailer, WAMP router, PostgreSQL, RabbitMQ): both register and verify through
 * the SMTP sink, log in, Alice creates a room and invites Bob, they exchange messages, see typing and
 * read ticks, react, reply, edit and delete, attach images (picker, paste, drop), open a direct
 * message; Bob goes offline and comes back to find every message (and his own queued one sent); the
 * WAMP router and the gateway are killed and the clients recover without loss; the access token is
 * refreshed before it expires, once for all of a person's tabs, and a lost refresh reply ends nothing;
 * presence statuses, privacy lists and the administrator's group rules show live; axe-core finds no
 * serious WCAG 2 A/AA problem. Screenshots of the main screens go to test/artifacts/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';
import { gradientPng } from './support/png.ts';
import { chromiumArgs, executablePath } from './support/chromium.ts';

const artifacts = path.join(import.meta.dirname, 'artifacts');
const run = Math.random().toString(36).slice(2, 8);
const password = 'correct horse battery staple';
const alice = { name: 'Alice Smith', email: `alice.${run}@example.com` };
const bob = { name: 'Bob Stone', email: `bob.${run}@example.com` };
const roomName = 'Design review';

const axeSource = path.join(import.meta.dirname, '../node_modules/axe-core/axe.min.js');

/** axe-core's WCAG 2 A/AA rules on the current screen: the serious and critical findings. */
async function accessibilityProblems(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: the origin's Content-Security-Policy (script-src 'self')
  // refuses an injected <script>, as it should.
  await page.evaluate(readFileSync(axeSource, 'utf8'));
  const violations = await page.evaluate<{ id: string; impact: string; nodes: { target: string[] }[] }[]>(
    `axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }).then((r) => r.violations)`,
  );
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

async function register(page: Page, origin: string, who: { name: string; email: string }) {
  await page.goto(`${origin}/register`);
  await page.getByLabel('Display name').fill(who.name);
  await page.getByLabel('E-mail').fill(who.email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Check your inbox').waitFor();
}

async function logIn(page: Page, origin: string, who: { email: string }) {
  await page.goto(`${origin}/login`);
  await page.getByLabel('E-mail').fill(who.email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Rooms' }).waitFor({ state: 'attached' });
}

const timeline = (page: Page) => page.locator('ol.timeline');

/** Waits until `GET /api/rooms/{roomId}/members`, asked with Bob's token, says Alice's `online` is `online`. */
async function aliceOnlineForBob(b: Page, roomId: string, online: boolean) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const seen = await b.evaluate(
      async ([room, name]) => {
        const { accessToken } = JSON.parse(localStorage.getItem('veche.session') ?? '{}') as {
          accessToken?: string;
        };
        const r = await fetch(`/api/rooms/${room}/members`, {
          headers: { authorization: `Bearer ${accessToken ?? ''}` },
        });
        const { members } = (await r.json()) as { members: { displayName: string; online: boolean }[] };
        return members.find((m) => m.displayName === name)?.online;
      },
      [roomId, alice.name] as const,
    );
    if (seen === online) return;
    if (Date.now() > deadline)
      assert.fail(`Alice's online is ${String(seen)} for Bob, not ${String(online)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe(
  'the web client in a browser, against the local fleet',
  { skip: !existsSync(executablePath) && `no Chromium at ${executablePath}` },
  () => {
    let fleet: Fleet;
    let browser: Browser;
    let aliceContext: BrowserContext;
    let bobContext: BrowserContext;
    let a: Page;
    let b: Page;
    const pageErrors: string[] = [];
    const consoleLines: string[] = [];

    before(async () => {
      mkdirSync(artifacts, { recursive: true });
      fleet = await startFleet();
      browser = await chromium.launch({ executablePath, headless: true, args: [...chromiumArgs] });
      aliceContext = await browser.newContext({
        viewport: { width: 1280, height: 800 },
        locale: 'en-US',
        // Still screenshots: the drawer and banners appear without their transitions.
        reducedMotion: 'reduce',
      });
      // Bob is on a phone.
      bobContext = await browser.newContext({
        viewport: { width: 390, height: 844 },
        locale: 'en-US',
        // Still screenshots: the drawer and banners appear without their transitions.
        reducedMotion: 'reduce',
        deviceScaleFactor: 2,
      });
      // The suite runs four integration files at once on two cores: give each step room.
      aliceContext.setDefaultTimeout(60_000);
      bobContext.setDefaultTimeout(60_000);
      a = await aliceContext.newPage();
      b = await bobContext.newPage();
      for (const [who, page] of [
        ['alice', a],
        ['bob', b],
      ] as const) {
        page.on('pageerror', (error) => pageErrors.push(`${who}: ${error.message}`));
        page.on('console', (message) => consoleLines.push(`${who} ${message.type()}: ${message.text()}`));
      }
    });

    after(async () => {
      // The last state of both screens, and what the pages said: the first things to read on a failure.
      await a?.screenshot({ path: path.join(artifacts, 'last-alice.png') }).catch(() => {});
      await b?.screenshot({ path: path.join(artifacts, 'last-bob.png') }).catch(() => {});
      // The pages' console and the fleet's log, kept for reading after a failure (not committed).
      writeFileSync(
        path.join(artifacts, 'last-run.log'),
        `${consoleLines.join('\n')}\n\n--- fleet ---\n${fleet?.output() ?? ''}`,
      );
      if (process.env['WEB_TEST_VERBOSE']) process.stderr.write(consoleLines.join('\n') + '\n');
      await browser?.close();
      await fleet?.stop();
    });

    it('serves the client at / with /api and /ws behind the same origin', async () => {
      const page = await fetch(fleet.origin + '/rooms/anything', { headers: { accept: 'text/html' } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<div id="root">/);
      const ready = await fetch(fleet.origin + '/api/ready');
      assert.equal(ready.status, 200);
    });

    it('registers two people and verifies both addresses through the links mailed to them', async () => {
      await a.goto(`${fleet.origin}/register`);
      await shot(a, '01-register');
      await register(a, fleet.origin, alice);
      await register(b, fleet.origin, bob);
      await shot(b, '02-register-done-phone');
      for (const [who, page] of [
        [alice, a],
        [bob, b],
      ] as const) {
        const link = new URL(await fleet.mailLink(who.email, '/verify-email'));
        // The link's origin is the fleet's public URL; open the same path on this test's origin.
        await page.goto(`${fleet.origin}${link.pathname}${link.search}`);
        await page.getByText('Your e-mail is confirmed').waitFor();
      }
      await shot(a, '03-verified');
    });

    it('logs both in, in English and in Russian', async () => {
      await a.goto(`${fleet.origin}/login`);
      await a.getByRole('button', { name: 'Русский' }).click();
      await a.getByRole('heading', { name: 'С возвращением' }).waitFor();
      await shot(a, '04-login-ru');
      await a.getByRole('button', { name: 'English' }).click();
      await logIn(a, fleet.origin, alice);
      await logIn(b, fleet.origin, bob);
      await a.getByText('Pick a room on the left').waitFor();
      await shot(a, '05-home');
    });

    it('creates a room, invites Bob, and Bob finds it in his list', async () => {
      await a.getByRole('button', { name: 'New room' }).click();
      await a.getByLabel('Room name').fill(roomName);
      await shot(a, '06-create-room');
      await a.getByRole('button', { name: 'Create', exact: true }).click();
      await a.waitForURL(/\/rooms\/[A-Za-z0-9_-]+$/);
      await a.getByRole('heading', { level: 1, name: roomName }).waitFor();
      await a.getByRole('button', { name: 'Invite' }).click();
      await a.getByLabel('Find people by name').fill(bob.name);
      await a.locator('.user-result', { hasText: bob.name }).click();
      await a.getByText('Invitation sent').waitFor();
      await a.keyboard.press('Escape');

      // On the phone the room list is a drawer.
      await b.getByRole('button', { name: 'Open the room list' }).click();
      await b.getByRole('link', { name: new RegExp(roomName) }).click();
      await b.getByRole('heading', { level: 1, name: roomName }).waitFor();
    });

    it('shows typing, delivers messages both ways, and marks them read', async () => {
      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      const bobBox = b.getByRole('textbox', { name: 'Message' });
      await aliceBox.pressSequentially('Hello Bob', { delay: 20 });
      await b.getByTestId('typing').getByText(`${alice.name} is typing`).waitFor();
      await aliceBox.press('Enter');
      await timeline(b).getByText('Hello Bob').waitFor();

      await bobBox.fill('Hi Alice! Line one');
      await bobBox.press('Shift+Enter');
      await bobBox.pressSequentially('and line two');
      assert.equal(await bobBox.inputValue(), 'Hi Alice! Line one\nand line two');
      await bobBox.press('Enter');
      await timeline(a).getByText('and line two').waitFor();

      // Bob has the room open, so Alice's message turns to read, and says by whom.
      const tick = a.locator('li.message', { hasText: 'Hello Bob' }).getByTestId('tick');
      await tick.and(a.locator('[data-tick="read"]')).waitFor({ timeout: 60_000 });
      assert.match((await tick.getAttribute('title')) ?? '', new RegExp(`Read by ${bob.name}`));
    });

    it('completes a mention and uploads an image that the other side sees', async () => {
      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      await aliceBox.pressSequentially('Look at this @Bo');
      await a.getByRole('option', { name: new RegExp(bob.name) }).waitFor();
      await aliceBox.press('Enter');
      assert.equal(await aliceBox.inputValue(), `Look at this @${bob.name} `);
      await a
        .getByTestId('file-input')
        .setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: gradientPng() });
      await a.locator('.staged-item', { hasText: 'gradient.png' }).waitFor();
      await a
        .locator('.staged-item', { hasText: 'Uploading' })
        .waitFor({ state: 'detached', timeout: 60_000 });
      // The text still in the box goes with the image, as one message.
      await aliceBox.press('Enter');
      await b.locator('.attachment-image img').waitFor({ timeout: 60_000 });
      await a.locator('.attachment-image img').waitFor({ timeout: 60_000 });
      await timeline(b).getByText(`@${bob.name}`).first().waitFor();
      await shot(a, '07-room-desktop');
      await shot(b, '08-room-phone');
    });

    it('reacts, replies, edits and deletes, and the other side sees each', async () => {
      const hello = (page: Page) =>
        timeline(page)
          .locator('li.message')
          .filter({ has: page.locator('.message-text', { hasText: /^Hello Bob/ }) });
      await hello(b).hover();
      await hello(b).getByRole('button', { name: 'React 👍' }).click();
      await hello(a)
        .getByRole('button', { name: /👍\s*1/ })
        .waitFor();

      await hello(b).hover();
      await hello(b).getByRole('button', { name: 'Reply' }).click();
      await b.getByText(`Replying to ${alice.name}`).waitFor();
      const bobBox = b.getByRole('textbox', { name: 'Message' });
      await bobBox.fill('Got it');
      await bobBox.press('Enter');
      const reply = timeline(a).locator('li.message', { hasText: 'Got it' });
      await reply.locator('blockquote', { hasText: 'Hello Bob' }).waitFor();

      await hello(a).hover();
      await hello(a).getByRole('button', { name: 'Edit' }).click();
      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      assert.equal(await aliceBox.inputValue(), 'Hello Bob');
      await aliceBox.fill('Hello Bob, welcome');
      await aliceBox.press('Enter');
      await timeline(b).locator('.message-text', { hasText: 'Hello Bob, welcome' }).waitFor();
      await hello(b).getByText('(edited)').waitFor();

      await aliceBox.fill('Oops, wrong room');
      await aliceBox.press('Enter');
      const oops = (page: Page) => timeline(page).locator('li.message', { hasText: 'Oops, wrong room' });
      await oops(b).waitFor();
      a.once('dialog', (dialog) => void dialog.accept());
      await oops(a).hover();
      await oops(a).getByRole('button', { name: 'Delete' }).click();
      await timeline(b).getByText('This message was deleted.').waitFor();
      await timeline(a).getByText('This message was deleted.').waitFor();
    });

    it('counts unread messages and mentions in the room list while Bob is elsewhere', async () => {
      await b.getByRole('button', { name: 'Open the room list' }).click();
      await b.getByRole('link', { name: 'Search' }).click();
      await b.getByRole('heading', { name: 'Search messages' }).waitFor();
      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      await aliceBox.fill('Are you there?');
      await aliceBox.press('Enter');
      await aliceBox.fill(`@${bob.name} please look`);
      await aliceBox.press('Enter');
      await b.getByRole('button', { name: 'Open the room list' }).click();
      const link = b.getByRole('link', { name: new RegExp(roomName) });
      await link.getByTestId('unread-badge').getByText('2').waitFor();
      await link.getByTestId('mention-badge').getByText('@1').waitFor();
      assert.match((await link.getAttribute('aria-label')) ?? '', /2 unread, 1 mentions/);
      await shot(b, '09-room-list-badges-phone');
      // Not read yet: Alice sees delivered, not read.
      await timeline(a)
        .locator('li.message', { hasText: 'please look' })
        .locator('[data-tick="delivered"]')
        .waitFor({ timeout: 60_000 });
      await link.click();
      await timeline(b).getByText('please look').waitFor();
      await b.getByRole('button', { name: 'Open the room list' }).click();
      await link.getByTestId('unread-badge').waitFor({ state: 'detached' });
      await b.keyboard.press('Escape');
      await timeline(a)
        .locator('li.message', { hasText: 'please look' })
        .locator('[data-tick="read"]')
        .waitFor({ timeout: 60_000 });
    });

    it('opens a direct message, and shows the members with their presence', async () => {
      await b.getByRole('button', { name: 'Open the room list' }).click();
      await b.getByRole('button', { name: 'New direct message' }).click();
      await b.getByLabel('Find people by name').fill('Alice');
      await b.locator('.user-result', { hasText: alice.name }).click();
      await b.getByRole('heading', { level: 1, name: alice.name }).waitFor();
      const bobBox = b.getByRole('textbox', { name: 'Message' });
      await bobBox.fill('psst, a private word');
      await bobBox.press('Enter');
      const dm = a.getByRole('link', { name: new RegExp(`^${bob.name}`) });
      await dm.getByTestId('unread-badge').getByText('1').waitFor({ timeout: 60_000 });
      await dm.click();
      await timeline(a).getByText('psst, a private word').waitFor();
      await a.getByRole('link', { name: new RegExp(roomName) }).click();
      await a.getByRole('button', { name: /Members/ }).click();
      const panel = a.getByRole('complementary', { name: 'Members' });
      // Bob is signed in (his /ws session): the presence-router says ENABLE.
      await panel
        .locator('.member', { hasText: bob.name })
        .locator('.member-status', { hasText: 'Online' })
        .waitFor();
      await shot(a, '08b-members-desktop');
      await a.getByRole('button', { name: /Members/ }).click();
      await b.getByRole('button', { name: 'Open the room list' }).click();
      await b.getByRole('link', { name: new RegExp(roomName) }).click();
      await b.getByRole('heading', { level: 1, name: roomName }).waitFor();
    });

    it('keeps Bob whole through going offline: the banner, his queued message, every missed one', async () => {
      await bobContext.setOffline(true);
      await b.getByTestId('connection-banner').waitFor();
      const bobBox = b.getByRole('textbox', { name: 'Message' });
      await bobBox.fill('Written on the train');
      await bobBox.press('Enter');
      await b.getByTestId('pending-message').getByText('Written on the train').waitFor();
      await shot(b, '10-offline-phone');

      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      for (const n of [1, 2, 3]) {
        await aliceBox.fill(`While you were away ${n}`);
        await aliceBox.press('Enter');
        await timeline(a)
          .locator('li.message:not(.message-pending)', { hasText: `While you were away ${n}` })
          .waitFor();
      }
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(
        await timeline(b).getByText('While you were away').count(),
        0,
        'offline Bob received nothing yet',
      );

      await bobContext.setOffline(false);
      for (const n of [1, 2, 3])
        await timeline(b).getByText(`While you were away ${n}`).waitFor({ timeout: 60_000 });
      await b.getByTestId('connection-banner').waitFor({ state: 'detached', timeout: 60_000 });
      await timeline(a).getByText('Written on the train').waitFor({ timeout: 60_000 });
      await b.getByTestId('pending-message').waitFor({ state: 'detached' });

      // Every message exactly once, in order, on both sides.
      const texts = async (page: Page) =>
        (
          await timeline(page).locator('li.message:not(.message-pending) .message-text').allTextContents()
        ).map((t) => t.trim());
      const expected = [
        'Hello Bob, welcome (edited)',
        'Hi Alice! Line one\nand line two',
        `Look at this @${bob.name}`,
        'Got it',
        'This message was deleted.',
        'Are you there?',
        `@${bob.name} please look`,
        'While you were away 1',
        'While you were away 2',
        'While you were away 3',
        'Written on the train',
      ];
      // Wait for the last one, then compare all (a shortfall shows as a readable diff).
      for (const page of [a, b]) {
        await timeline(page)
          .locator('li.message:not(.message-pending)')
          .nth(expected.length - 1)
          .waitFor({ timeout: 15_000 })
          .catch(() => {});
      }
      assert.deepEqual(await texts(b), expected);
      assert.deepEqual(await texts(a), expected);
    });

    it('attaches a pasted image and a dropped file', async () => {
      const png = gradientPng(80, 60).toString('base64');
      // What a paste and a drop deliver: DataTransfer objects holding files, as the browser builds them.
      await a.evaluate(
        `(() => {
          const box = document.querySelector('.composer textarea');
          const bytes = Uint8Array.from(atob('${png}'), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
          box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
          const dropped = new DataTransfer();
          dropped.items.add(new File(['minutes of the meeting'], 'minutes.txt', { type: 'text/plain' }));
          const room = box.closest('.room');
          room.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dropped, bubbles: true, cancelable: true }));
          room.dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }));
        })()`,
      );
      await a.locator('.staged-item', { hasText: 'pasted.png' }).waitFor();
      await a.locator('.staged-item', { hasText: 'minutes.txt' }).waitFor();
      // Polled from here, not by a string predicate: the origin's Content-Security-Policy forbids eval.
      const uploading = a.locator('.staged-item', { hasText: 'Uploading' });
      const deadline = Date.now() + 60_000;
      while ((await uploading.count()) > 0) {
        assert.ok(Date.now() < deadline, 'both uploads finish within a minute');
        await a.waitForTimeout(200);
      }
      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      await aliceBox.fill('Pasted and dropped');
      await aliceBox.press('Enter');
      const message = timeline(b).locator('li.message', { hasText: 'Pasted and dropped' });
      await message.locator('.attachment-image img').waitFor();
      await message.getByRole('button', { name: /minutes\.txt/ }).waitFor();
    });

    it('rides out a crash of the WAMP router and the gateway: reconnects, sends what waited, misses nothing', async () => {
      const status = (await (await fetch(`${fleet.origin}/_fleet/status`)).json()) as {
        processes: { name: string; pid?: number; status: string }[];
      };
      const router = status.processes.find((p) => p.name === 'wamp-router');
      const gateway = status.processes.find((p) => p.name === 'gateway');
      assert.ok(router?.pid && gateway?.pid, 'the router and the gateway run');
      // Both at once: while the gateway (the router's authenticator) is still starting, the router
      // refuses tickets, and the client must keep trying past autobahn's own give-up.
      process.kill(router.pid, 'SIGKILL');
      process.kill(gateway.pid, 'SIGKILL');
      await b.getByTestId('connection-banner').getByText('Reconnecting').waitFor();
      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      await aliceBox.fill('Sent while the router was down');
      await aliceBox.press('Enter');
      await timeline(b).getByText('Sent while the router was down').waitFor({ timeout: 90_000 });
      await b.getByTestId('connection-banner').waitFor({ state: 'detached', timeout: 60_000 });
      await a.getByTestId('connection-banner').waitFor({ state: 'detached', timeout: 60_000 });
      await aliceBox.fill('And after it');
      await aliceBox.press('Enter');
      await timeline(b).getByText('And after it').waitFor();
      assert.equal(await timeline(b).getByText('Sent while the router was down').count(), 1);
    });

    it('pages older history in as Bob scrolls up', async () => {
      // A session of the test's own (the browser's token may be seconds from expiry: the fleet runs
      // with 20 s tokens), logged in again when it expires mid-way; the idempotency key makes the
      // retried post the same message.
      const logIn = async () => {
        const response = await fetch(`${fleet.origin}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: alice.email, password }),
        });
        assert.equal(response.status, 200);
        return ((await response.json()) as { accessToken: string }).accessToken;
      };
      let accessToken = await logIn();
      const roomId = new URL(a.url()).pathname.split('/').pop()!;
      for (let n = 1; n <= 60; n++) {
        const post = () =>
          fetch(`${fleet.origin}/api/rooms/${roomId}/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
            body: JSON.stringify({ text: `Filler ${n}`, idempotencyKey: `filler-${run}-${n}` }),
          });
        let response = await post();
        if (response.status === 401) {
          accessToken = await logIn();
          response = await post();
        }
        assert.equal(response.status, 201);
      }
      await b.reload();
      await timeline(b).getByText('Filler 60').waitFor();
      assert.equal(
        await timeline(b).locator('.message-text', { hasText: 'Hello Bob, welcome' }).count(),
        0,
        'the first page holds only the newest',
      );
      for (
        let i = 0;
        i < 10 &&
        (await timeline(b).locator('.message-text', { hasText: 'Hello Bob, welcome' }).count()) === 0;
        i++
      ) {
        await b.locator('.timeline-scroll').hover();
        await b.mouse.wheel(0, -20_000);
        await new Promise((r) => setTimeout(r, 300));
      }
      await timeline(b).locator('.message-text', { hasText: 'Hello Bob, welcome' }).waitFor();
      await b.getByText(`This is the beginning of ${roomName}.`).waitFor();
      assert.equal(await timeline(b).getByText('Filler 1', { exact: true }).count(), 1);
    });

    it('searches, and lists the sessions in settings', async () => {
      await a.goto(`${fleet.origin}/search`);
      await a.getByRole('searchbox').fill('away');
      await a.getByRole('button', { name: 'Search' }).click();
      await a.locator('.search-hit').first().waitFor({ timeout: 60_000 });
      await shot(a, '11-search');
      await a.goto(`${fleet.origin}/settings/sessions`);
      await a.locator('.session').first().waitFor();
      await shot(a, '12-sessions');
      await a.goto(`${fleet.origin}/settings/profile`);
      await a.getByLabel('Display name').waitFor();
      await shot(a, '13-profile');
    });

    it('refreshes the access token before it expires, once for all tabs, and survives a lost reply', async () => {
      type Stored = { accessToken: string; refreshToken: string; expiresAt: number };
      const stored = async () =>
        JSON.parse(await a.evaluate<string>('localStorage.getItem("veche.session")')) as Stored;
      /** Waits for the stored tokens to change from `from` (the fleet's tokens live 20 s). */
      const nextTokens = async (from: Stored) => {
        const deadline = Date.now() + 60_000;
        let now = from;
        while (now.accessToken === from.accessToken && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          now = await stored();
        }
        assert.notEqual(now.accessToken, from.accessToken, 'the token was refreshed');
        return now;
      };
      // A second tab of Alice's: it shares her tokens, and must not spend the refresh token on its own.
      const a2 = await aliceContext.newPage();
      await a2.goto(`${fleet.origin}/`);
      await a2.getByRole('link', { name: new RegExp(roomName) }).waitFor();
      // Refresh tokens spent by either tab (a request the route below fetches itself is not counted).
      let spends = 0;
      for (const page of [a, a2])
        page.on('request', (request) => {
          if (request.method() === 'POST' && request.url().endsWith('/api/auth/refresh')) spends++;
        });

      // The next refresh's reply is lost (the gateway committed it, the page never heard): a tab
      // spends the same token again, and the gateway takes it as the token just replaced.
      let lost = 0;
      await aliceContext.route(
        '**/api/auth/refresh',
        async (route) => {
          const response = await route.fetch();
          assert.equal(response.status(), 200);
          lost++;
          await route.abort('connectionreset');
        },
        { times: 1 },
      );
      const deadline = Date.now() + 60_000;
      while (lost === 0) {
        assert.ok(Date.now() < deadline, 'a refresh came within a minute');
        await new Promise((r) => setTimeout(r, 250));
      }
      const afterLoss = await nextTokens(await stored());
      const me = await fetch(`${fleet.origin}/api/me`, {
        headers: { authorization: `Bearer ${afterLoss.accessToken}` },
      });
      assert.equal(me.status, 200, 'the session lives on after the lost reply');

      // A refresh was just stored, so none is under way: from here, the next one is spent once for
      // both tabs, before the token it replaces expires.
      spends = 0;
      const next = await nextTokens(afterLoss);
      assert.ok(Date.now() < afterLoss.expiresAt, 'the refresh came before the old token expired');
      assert.equal(spends, 1, 'one refresh for both tabs');
      assert.equal((await stored()).accessToken, next.accessToken);
      await a.goto(`${fleet.origin}/`);
      await a.getByRole('link', { name: new RegExp(roomName) }).click();
      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      await aliceBox.fill('Still here after a refresh');
      await aliceBox.press('Enter');
      await timeline(b).getByText('Still here after a refresh').waitFor();
      await a2.getByRole('link', { name: new RegExp(roomName) }).click();
      const secondBox = a2.getByRole('textbox', { name: 'Message' });
      await secondBox.fill('And from the second tab');
      await secondBox.press('Enter');
      await timeline(b).getByText('And from the second tab').waitFor();
      await a2.close();
    });

    it('saves the notification choice', async () => {
      await a.goto(`${fleet.origin}/settings/notifications`);
      await a.getByLabel('Send one digest of what I missed').check();
      await a.getByRole('button', { name: 'Save' }).click();
      await a.getByText('Saved.').waitFor();
    });

    it('shows presence live: chosen statuses, a privacy list that hides one, and automatic again', async () => {
      // Bob opens his direct message with Alice: her status is under her name.
      await b.goto(`${fleet.origin}/`);
      await b.getByRole('button', { name: 'Open the room list' }).click();
      await b.getByRole('link', { name: new RegExp(`^${alice.name}`) }).click();
      const herStatus = b.getByTestId('peer-status');
      await herStatus.getByText('Online').waitFor({ timeout: 60_000 });

      // Alice chooses Busy in the picker; Bob sees it without reloading.
      await a.goto(`${fleet.origin}/`);
      await a.getByTestId('my-status').getByText('Online').waitFor({ timeout: 60_000 });
      await a.getByTestId('my-status').click();
      await shot(a, '14-status-picker');
      for (const label of [
        'Automatic',
        'Online',
        'Busy',
        'Offline',
        'Incoming call',
        'Do not disturb',
        'Away',
        'Forwarding calls',
        'Unknown',
      ]) {
        await a.getByRole('menuitemradio', { name: new RegExp(`^${label}`) }).waitFor();
      }
      await a.getByRole('menuitemradio', { name: 'Busy' }).click();
      await a.getByTestId('my-status').getByText('Busy').waitFor();
      await herStatus.getByText('Busy').waitFor({ timeout: 60_000 });

      // Bob (on his phone, in the drawer) chooses Do not disturb; Alice sees it in his direct message's
      // link, the members panel and on a fresh mention of him.
      await b.getByRole('button', { name: 'Open the room list' }).click();
      await b.getByTestId('my-status').click();
      await b.getByRole('menuitemradio', { name: 'Do not disturb' }).click();
      await b.getByTestId('my-status').getByText('Do not disturb').waitFor();
      await b.keyboard.press('Escape');
      await a
        .getByRole('link', { name: new RegExp(`^${bob.name}, Do not disturb`) })
        .waitFor({ timeout: 60_000 });
      await a.getByRole('link', { name: new RegExp(roomName) }).click();
      await a.getByRole('heading', { level: 1, name: roomName }).waitFor();
      // The members panel first: once it shows Bob, the members are loaded and the mention completes.
      await a.getByRole('button', { name: /Members/ }).click();
      const panel = a.getByRole('complementary', { name: 'Members' });
      await panel
        .locator('.member', { hasText: bob.name })
        .locator('.member-status', { hasText: 'Do not disturb' })
        .waitFor();
      await shot(a, '15-presence-members');
      await a.getByRole('button', { name: /Members/ }).click();
      const aliceBox = a.getByRole('textbox', { name: 'Message' });
      await aliceBox.pressSequentially('Ping @Bo');
      await a.getByRole('option', { name: new RegExp(bob.name) }).waitFor();
      await aliceBox.press('Enter');
      await aliceBox.press('Enter');
      await timeline(a)
        .locator('.mention', { hasText: bob.name })
        .last()
        .getByRole('img', { name: 'Do not disturb' })
        .waitFor({ timeout: 60_000 });

      // Alice hides her status from Bob: he sees Unknown at once, on the subscription he already holds.
      await a.goto(`${fleet.origin}/settings/privacy`);
      await a.getByLabel('Everyone except the people below').check();
      await a.getByLabel('Add people by name').fill('Bob');
      await a.locator('.user-result', { hasText: bob.name }).click();
      await a.getByTestId('privacy-list').getByText(bob.name).waitFor();
      await a.getByRole('button', { name: 'Save' }).click();
      await a.getByText('Saved.').waitFor();
      await shot(a, '16-privacy');
      await herStatus.getByText('Unknown').waitFor({ timeout: 60_000 });
      // A reload asks afresh: still Unknown, with no hint of a rule.
      await b.reload();
      await b.getByTestId('peer-status').getByText('Unknown').waitFor({ timeout: 60_000 });

      // Everyone again: Bob sees Busy; then Alice goes back to automatic and Bob sees Online.
      await a.getByLabel('Everyone', { exact: true }).check();
      await a.getByRole('button', { name: 'Save' }).click();
      await a.getByText('Saved.').waitFor();
      await b.getByTestId('peer-status').getByText('Busy').waitFor({ timeout: 60_000 });
      await a.getByTestId('my-status').click();
      await a.getByRole('menuitemradio', { name: /^Automatic/ }).click();
      await a.getByTestId('my-status').getByText('Online').waitFor();
      await b.getByTestId('peer-status').getByText('Online').waitFor({ timeout: 60_000 });
      // Bob back to automatic too, for the steps after this one.
      await b.getByRole('button', { name: 'Open the room list' }).click();
      await b.getByTestId('my-status').click();
      await b.getByRole('menuitemradio', { name: /^Automatic/ }).click();
      await b.getByTestId('my-status').getByText('Online').waitFor();
      await b.keyboard.press('Escape');
    });

    it('lets the administrator hide one group from another, and show it again', async () => {
      // Bob is on his direct message with Alice and sees her status.
      const herStatus = b.getByTestId('peer-status');
      await herStatus.getByText('Online').waitFor({ timeout: 60_000 });
      // Alice registered first: she administers, and her settings have the groups tab.
      await a.goto(`${fleet.origin}/settings/profile`);
      await a.getByRole('link', { name: 'Presence groups' }).click();
      await a.getByRole('heading', { name: 'Groups', exact: true }).waitFor();
      await a.getByText('No groups yet.').waitFor();

      // Two groups: staff (Alice) and interns (Bob).
      for (const [group, who] of [
        ['staff', alice],
        ['interns', bob],
      ] as const) {
        await a.getByLabel('New group name').fill(group);
        await a.getByRole('button', { name: 'Create group' }).click();
        const card = a.getByRole('region', { name: `Group ${group}` });
        await card.getByText('Nobody in this group.').waitFor();
        await card.getByLabel(`Add people to ${group}`).fill(who.name.split(' ')[0]!);
        await card.locator('.user-result', { hasText: who.name }).click();
        await a.getByTestId(`group-${group}`).getByText(who.name).waitFor();
        await a.getByText('Saved.').waitFor();
      }

      // The rule: interns may not see staff. Bob sees Alice as Unknown at once.
      await a.getByText('No rules').waitFor();
      await a.getByLabel('Members of').selectOption('interns');
      await a.getByLabel('may not see').selectOption('staff');
      await a.getByRole('button', { name: 'Add rule' }).click();
      await a.getByTestId('group-rules').getByText('interns may not see staff').waitFor();
      await shot(a, '17-presence-groups');
      await herStatus.getByText('Unknown').waitFor({ timeout: 60_000 });
      // Chat's member list says the same (online comes from the presence-router, as Bob may see it).
      const roomHref = await a.getByRole('link', { name: new RegExp(roomName) }).getAttribute('href');
      const roomId = roomHref!.split('/').pop()!;
      await aliceOnlineForBob(b, roomId, false);

      // The rule goes: Bob sees her again. The groups go too.
      await a.getByRole('button', { name: 'Remove the rule: interns may not see staff' }).click();
      await a.getByText('No rules').waitFor();
      await herStatus.getByText('Online').waitFor({ timeout: 60_000 });
      await aliceOnlineForBob(b, roomId, true);
      await a.getByRole('button', { name: 'Delete interns' }).click();
      await a.getByRole('region', { name: 'Group interns' }).waitFor({ state: 'detached' });
      await a.getByRole('button', { name: 'Delete staff' }).click();
      await a.getByText('No groups yet.').waitFor();
    });

    it('passes the WCAG 2 A/AA checks of axe-core with no serious finding on the main screens', async () => {
      const problems: string[] = [];
      const screens: [Page, string][] = [
        [a, `${fleet.origin}/settings/profile`],
        [a, `${fleet.origin}/settings/privacy`],
        [a, `${fleet.origin}/settings/groups`],
        [a, `${fleet.origin}/search`],
        [await browser.newPage({ locale: 'en-US' }), `${fleet.origin}/login`],
      ];
      for (const [page, url] of screens) {
        await page.goto(url);
        await page.locator('h1').first().waitFor();
        problems.push(...(await accessibilityProblems(page)).map((p) => `${url}: ${p}`));
      }
      await a.getByRole('link', { name: new RegExp(roomName) }).click();
      await timeline(a).getByText('Filler 60').waitFor();
      problems.push(...(await accessibilityProblems(a)).map((p) => `room: ${p}`));
      assert.deepEqual(problems, []);
    });

    it('resets a forgotten password through the mailed link', async () => {
      const page = await aliceContext.newPage();
      await page.goto(`${fleet.origin}/reset-password`);
      await page.getByLabel('E-mail').fill(alice.email);
      await page.getByRole('button', { name: 'Send the link' }).click();
      await page.getByText('a link is on its way').waitFor();
      const link = new URL(await fleet.mailLink(alice.email, '/reset-password'));
      await page.goto(`${fleet.origin}${link.pathname}${link.search}`);
      await page.locator('input[type="password"]').fill('a brand new passphrase');
      await page.getByRole('button', { name: 'Save the password' }).click();
      await page.getByText('Your password is changed').waitFor();
      await page.close();
    });

    it('raised no uncaught errors in either page', () => {
      assert.deepEqual(pageErrors, []);
    });
  },
);

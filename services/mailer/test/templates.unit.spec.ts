import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  excerpt,
  pickLocale,
  renderChatNotification,
  renderEmailChangeConfirm,
  renderEmailChangeNotice,
  renderPasswordReset,
  renderRegistrationAttempt,
  renderVerifyEmail,
  type ChatNotificationItem,
  type RenderedMail,
} from '../src/domain/templates.ts';
import { catalogues, locales, plural } from '../src/i18n/index.ts';

const brand = { productName: 'Kopnik', publicUrl: 'https://chat.example.org' };

const item = (overrides: Partial<ChatNotificationItem> = {}): ChatNotificationItem => ({
  roomId: 'r1',
  roomKind: 'room',
  roomName: 'general',
  seq: 7,
  senderDisplayName: 'Boris',
  text: 'hello @anna',
  sentAt: '2026-11-23T10:00:00.000Z',
  reason: 'mention',
  ...overrides,
});

describe('templates', () => {
  it('picks Russian for ru tags and English for everything else', () => {
    assert.equal(pickLocale('ru'), 'ru');
    assert.equal(pickLocale('ru-RU'), 'ru');
    assert.equal(pickLocale('RU_ua'), 'ru');
    assert.equal(pickLocale('en-GB'), 'en');
    assert.equal(pickLocale('rum'), 'en');
    assert.equal(pickLocale(undefined), 'en');
    assert.equal(pickLocale('de-DE'), 'en', 'a language with no catalogue falls back to English');
  });

  it('has the same keys, each with the same placeholders, in every catalogue', () => {
    assert.deepEqual(locales, ['en', 'ru']);
    const placeholders = (text: string): string[] =>
      [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort();
    const reference: Readonly<Record<string, string>> = catalogues.en;
    for (const locale of locales) {
      const catalogue: Readonly<Record<string, string>> = catalogues[locale];
      assert.deepEqual(Object.keys(catalogue).sort(), Object.keys(reference).sort(), `${locale}: keys`);
      for (const [key, text] of Object.entries(reference)) {
        if (/\.(?:one|few|many|other)$/.test(key)) continue; // a form may spell its number out ("once")
        assert.deepEqual(
          placeholders(catalogue[key] ?? ''),
          placeholders(text),
          `${locale} ${key}: placeholders`,
        );
      }
    }
  });

  it('picks plural forms by the language rules', () => {
    assert.equal(plural('en', 'logAlert.lines', 1), '1 line');
    assert.equal(plural('en', 'logAlert.lines', 0), '0 lines');
    assert.equal(plural('ru', 'logAlert.lines', 1), '1 строка');
    assert.equal(plural('ru', 'logAlert.lines', 3), '3 строки');
    assert.equal(plural('ru', 'logAlert.lines', 11), '11 строк');
  });

  for (const locale of locales) {
    it(`renders every security mail in ${locale} with the product name, its link and no unsubscribe link`, () => {
      const mails = [
        [
          renderVerifyEmail(brand, { locale, displayName: 'Anna', token: 'a b' }),
          'https://chat.example.org/verify-email?token=a%20b',
        ],
        [
          renderPasswordReset(brand, {
            locale,
            displayName: 'Anna',
            token: 't1',
            expiresAt: '2026-11-23T12:00:00Z',
          }),
          'https://chat.example.org/reset-password?token=t1',
        ],
        [
          renderEmailChangeConfirm(brand, {
            locale,
            displayName: 'Anna',
            newEmail: 'n@example.org',
            token: 't2',
          }),
          'https://chat.example.org/confirm-email?token=t2',
        ],
        [renderRegistrationAttempt(brand, { locale, displayName: 'Anna' }), 'https://chat.example.org/login'],
        [
          renderRegistrationAttempt(brand, { locale, displayName: 'Anna' }),
          'https://chat.example.org/reset-password',
        ],
      ] as const;
      for (const [mail, link] of mails) {
        assert.match(mail.subject, /^Kopnik: /);
        assert.ok(mail.text.includes(link), `${mail.subject}: text has ${link}`);
        assert.ok(mail.html.includes(`href="${link}"`), `${mail.subject}: html links ${link}`);
        assert.ok(mail.html.includes(`lang="${locale}"`));
        assert.ok(!mail.text.includes('/unsubscribe'), `${mail.subject}: no unsubscribe link`);
        assert.equal(/[а-я]/i.test(mail.text), locale === 'ru', `${mail.subject}: written in ${locale}`);
      }
      const notice = renderEmailChangeNotice(brand, {
        locale,
        displayName: 'Anna',
        newEmail: 'n@example.org',
      });
      assert.ok(notice.text.includes('n@example.org'));
      assert.ok(!notice.text.includes('https://'), 'the notice to the old address carries no link to act on');
    });
  }

  it('escapes user-controlled text in HTML', () => {
    const mail = renderVerifyEmail(brand, {
      locale: 'en',
      displayName: '<script>alert(1)</script>',
      token: 'x',
    });
    assert.ok(!mail.html.includes('<script>'));
    assert.ok(mail.html.includes('&lt;script&gt;'));
    const chat = renderChatNotification(brand, {
      locale: 'en',
      displayName: 'Anna',
      items: [item({ text: '<img src=x onerror=alert(1)>' })],
      unsubscribeToken: 'u',
    });
    assert.ok(!chat.html.includes('<img'));
  });

  for (const locale of locales) {
    it(`escapes hostile names and text in every ${locale} mail, as the HTML template escapes them`, () => {
      const hostile = `<script>alert("x")</script>'`;
      const hostileBrand = { productName: `Ko"pnik<b>`, publicUrl: 'https://chat.example.org' };
      const data = {
        locale,
        displayName: hostile,
        token: `t"><script>`,
        newEmail: `${hostile}@x`,
      };
      const mails: RenderedMail[] = [
        renderVerifyEmail(hostileBrand, data),
        renderPasswordReset(hostileBrand, data),
        renderRegistrationAttempt(hostileBrand, data),
        renderEmailChangeConfirm(hostileBrand, data),
        renderEmailChangeNotice(hostileBrand, data),
        renderChatNotification(hostileBrand, {
          locale,
          displayName: hostile,
          items: [
            item({ senderDisplayName: hostile, roomName: hostile, text: hostile }),
            item({
              roomId: 'd"1',
              roomKind: 'dm',
              senderDisplayName: hostile,
              text: hostile,
              reason: 'direct',
            }),
          ],
          unsubscribeToken: `u"'<`,
        }),
      ];
      for (const mail of mails) {
        assert.ok(!mail.html.includes('<script'), `${mail.subject}: no raw <script>`);
        assert.ok(!mail.html.includes('<b>'), `${mail.subject}: no raw <b>`);
        assert.ok(!mail.html.includes('alert("x")'), `${mail.subject}: quotes escaped`);
        assert.ok(mail.html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;'), mail.subject);
        assert.ok(mail.html.includes('Ko&quot;pnik&lt;b&gt;'), `${mail.subject}: product name escaped`);
        assert.ok(mail.text.includes(hostile), `${mail.subject}: the text part is plain text`);
        assert.equal(mail.html.match(/<a /g)?.length ?? 0, mail.html.match(/href="/g)?.length ?? 0);
      }
    });
  }

  it('renders one message as a notification, with room link, settings and unsubscribe links', () => {
    const mail = renderChatNotification(brand, {
      locale: 'en',
      displayName: 'Anna',
      items: [item()],
      unsubscribeToken: 'tok',
    });
    assert.equal(mail.subject, 'Kopnik: Boris mentioned you in #general');
    assert.ok(mail.text.includes('> hello @anna'));
    assert.ok(mail.text.includes('https://chat.example.org/rooms/r1?seq=7'));
    assert.ok(mail.text.includes('https://chat.example.org/unsubscribe?token=tok'));
    assert.ok(mail.html.includes('href="https://chat.example.org/settings/notifications"'));
  });

  it('renders a digest of several messages oldest first, one link per room, in Russian', () => {
    const mail = renderChatNotification(brand, {
      locale: 'ru',
      displayName: 'Анна',
      items: [
        item({ text: 'second', sentAt: '2026-11-23T10:05:00Z', seq: 8 }),
        item({ text: 'first', sentAt: '2026-11-23T10:00:00Z' }),
        item({ roomId: 'd1', roomKind: 'dm', roomName: undefined, text: 'psst', reason: 'direct', seq: 1 }),
      ],
      unsubscribeToken: 'tok',
    });
    assert.equal(mail.subject, 'Kopnik: 3 непрочитанных сообщений');
    assert.ok(mail.text.indexOf('> first') < mail.text.indexOf('> second'));
    assert.deepEqual(
      mail.text.match(/\/rooms\/r1\S*/g),
      ['/rooms/r1?seq=7'],
      'one link, to the oldest unread',
    );
    assert.ok(mail.text.includes('личное сообщение'));
    assert.ok(mail.text.includes('Отписаться:\nhttps://chat.example.org/unsubscribe?token=tok'));
  });

  it('cuts long messages to an excerpt', () => {
    const long = 'x'.repeat(1000);
    assert.equal(excerpt(long).length, 300);
    assert.ok(excerpt(long).endsWith('…'));
    assert.equal(excerpt('  short  '), 'short');
  });
});

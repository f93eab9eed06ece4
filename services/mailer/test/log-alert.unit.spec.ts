/** The log-alert mail in both languages, and the cool-down that keeps a noisy alert to one mail. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEvent, type LogAlertFired } from '../src/events.ts';
import { decideAlertMail } from '../src/domain/alert-cool-down.ts';
import { formatWindow, renderLogAlert } from '../src/domain/log-alert.ts';
import { categoryOf, logAlertMail } from '../src/domain/mails.ts';
import { locales } from '../src/i18n/index.ts';

const brand = { productName: 'Veche', publicUrl: 'https://veche.test/' };
const alert: LogAlertFired = {
  alertId: '0190a7a4-1111-7000-8000-000000000001',
  alertName: 'disk full',
  sourceId: '0190a7a4-2222-7000-8000-000000000002',
  sourceName: 'db servers',
  ownerId: 'u1',
  filter: { q: 'No space left', severity: 3 },
  threshold: 5,
  windowSeconds: 300,
  coolDownSeconds: 3600,
  matches: 21,
  firstMatchAt: '2026-12-02T06:00:00.000Z',
  lastMatchAt: '2026-12-02T06:04:00.000Z',
  firedAt: '2026-12-02T06:04:01.000Z',
  upToLineId: '123',
  samples: [
    {
      id: '123',
      createdAt: '2026-12-02T06:04:00.000Z',
      hostname: 'db-1',
      fileName: 'pg.log',
      message: 'No space left on <device>',
    },
  ],
};

describe('log alert mail', () => {
  it('is accepted by the contract the mailer checks', () => {
    assert.equal(parseEvent('logs.alert_fired', alert).ok, true);
    assert.equal(parseEvent('logs.alert_fired', { ...alert, matches: 0 }).ok, false);
  });

  it('renders in English with the counts, the search, a sample and the link to the logs screen', () => {
    const mail = renderLogAlert(brand, { locale: 'en', displayName: 'Ann', alert, suppressed: 0 });
    assert.equal(mail.subject, 'Veche: alert "disk full" fired (db servers)');
    assert.match(
      mail.text,
      /21 lines within 5 min \(threshold: 5; search: text "No space left", severity ≤ 3\)/,
    );
    assert.match(mail.text, /> No space left on <device>/);
    assert.match(mail.text, /https:\/\/veche\.test\/logs\/0190a7a4-2222-7000-8000-000000000002/);
    assert.doesNotMatch(mail.text, /more; to spare/);
    assert.match(mail.html, /No space left on &lt;device&gt;/);
    const held = renderLogAlert(brand, { locale: 'en', displayName: 'Ann', alert, suppressed: 4 });
    assert.match(held.text, /Since the previous mail it fired 4 times more; .* at most once every 1 h\./);
  });

  it('renders in Russian with Russian plurals', () => {
    const mail = renderLogAlert(brand, { locale: 'ru', displayName: 'Оля', alert, suppressed: 2 });
    assert.equal(mail.subject, 'Veche: сработало оповещение «disk full» (db servers)');
    assert.match(mail.text, /21 строка за 5 мин/);
    assert.match(mail.text, /срабатывало ещё 2 раза/);
    assert.match(mail.text, /Открыть журнал/);
    assert.equal(formatWindow(90, 'ru'), '90 с');
  });

  for (const locale of locales) {
    it(`escapes hostile alert, source and sample text in the ${locale} HTML`, () => {
      const hostile = `<script>alert("x")</script>'`;
      const mail = renderLogAlert(brand, {
        locale,
        displayName: hostile,
        alert: {
          ...alert,
          alertName: hostile,
          sourceName: hostile,
          filter: { q: hostile },
          samples: [{ ...alert.samples[0]!, hostname: hostile, message: hostile }],
        },
        suppressed: 1,
      });
      assert.ok(!mail.html.includes('<script'));
      assert.ok(!mail.html.includes('alert("x")'));
      assert.ok(mail.html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;'));
      assert.ok(mail.text.includes(hostile), 'the text part is plain text');
    });
  }

  it('is a notification (the suppression list applies) to the owner, keyed by its event', () => {
    const draft = logAlertMail(
      brand,
      'e1',
      { userId: 'u1', email: 'ann@example.org', displayName: 'Ann', locale: 'ru-RU', notify: 'never' },
      alert,
      0,
    );
    assert.equal(draft.idempotencyKey, 'e1/u1/log_alert');
    assert.equal(draft.locale, 'ru');
    assert.equal(categoryOf('log_alert'), 'notification');
    assert.equal(draft.to, 'ann@example.org');
  });
});

describe('alert cool-down', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 11, 2, 6, 0, s));
  it('mails the first firing, holds back those inside the cool-down, and reports them after it', () => {
    assert.deepEqual(decideAlertMail({ lastMailedAt: null, suppressed: 0 }, at(0), 60), {
      send: true,
      suppressedBefore: 0,
    });
    assert.deepEqual(decideAlertMail({ lastMailedAt: at(0), suppressed: 0 }, at(59), 60), { send: false });
    assert.deepEqual(decideAlertMail({ lastMailedAt: at(0), suppressed: 3 }, at(60), 60), {
      send: true,
      suppressedBefore: 3,
    });
  });
});

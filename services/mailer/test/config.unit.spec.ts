import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusedVariables } from '@veche/config';
import { loadMailerConfig } from '../src/env.ts';
import { parseEvent } from '../src/events.ts';

const problemsOf = (env: Record<string, string>): string[] => refusedVariables(() => loadMailerConfig(env));

describe('configuration', () => {
  it('has working defaults for development: 1 min × 2^n retries up to a day, 15 min digests', () => {
    const config = loadMailerConfig({});
    assert.equal(config.MAIL_RETRY_BASE_MS, 60_000);
    assert.equal(config.MAIL_RETRY_MAX_MS, 86_400_000);
    assert.equal(config.MAIL_DIGEST_DELAY_MS, 900_000);
    assert.equal(config.MAIL_DEFAULT_NOTIFY, 'digest');
    assert.equal(config.SMTP_URL, undefined);
  });

  it('names the bad variable', () => {
    assert.deepEqual(problemsOf({ SMTP_URL: 'http://relay' }), ['SMTP_URL']);
    assert.deepEqual(problemsOf({ MAIL_RATE_PER_SECOND: 'fast' }), ['MAIL_RATE_PER_SECOND']);
    assert.deepEqual(problemsOf({ DKIM_DOMAIN: 'veche.test' }), ['DKIM_PRIVATE_KEY']);
    assert.deepEqual(problemsOf({ MAILER_EVENT_RETRY_DELAYS_MS: '1000,soon' }), [
      'MAILER_EVENT_RETRY_DELAYS_MS',
    ]);
    assert.deepEqual(problemsOf({ MAIL_RETRY_BASE_MS: '5000', MAIL_RETRY_MAX_MS: '1000' }), [
      'MAIL_RETRY_MAX_MS',
    ]);
  });

  it('requires a relay and real secrets in production', () => {
    assert.deepEqual(problemsOf({ NODE_ENV: 'production' }).sort(), [
      'MAIL_UNSUBSCRIBE_SECRET',
      'SMTP_URL',
      'VECHE_SERVICE_SECRET',
    ]);
  });
});

describe('event payload contracts', () => {
  it('accepts a valid payload and names the fields of an invalid one', () => {
    const ok = parseEvent('chat.receipts_updated', { roomId: 'r', userId: 'u', readUpTo: 4 });
    assert.equal(ok.ok, true);
    const bad = parseEvent('account.registered', {
      userId: 'u',
      email: 'nope',
      displayName: 'A',
      locale: 'en',
    });
    assert.equal(bad.ok, false);
    assert.ok(!bad.ok && bad.problems.some((p) => p.startsWith('/email')));
    assert.ok(!bad.ok && bad.problems.some((p) => p.startsWith('/sealedToken')));
    const posted = parseEvent('chat.message_posted', {
      roomId: 'r',
      roomKind: 'dm',
      messageId: 'm',
      seq: 1,
      senderId: 's',
      senderDisplayName: 'S',
      text: 't',
      sentAt: 'yesterday',
      notify: [],
    });
    assert.ok(!posted.ok && posted.problems.some((p) => p.startsWith('/sentAt')));
    assert.equal(parseEvent('chat.room_created', {}).ok, false);
  });
});

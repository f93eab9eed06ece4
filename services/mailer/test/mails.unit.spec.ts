import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideChatNotifications,
  hideLinkTokens,
  idempotencyKey,
  linkTokenPlaceholder,
  mailIdOf,
  mailsForEmailChange,
  mailsForRegistration,
  messageIdOf,
  notificationMail,
  type Recipient,
} from '../src/domain/mails.ts';
import type { ChatMessagePosted } from '../src/events.ts';
import { withLinkToken } from '../src/sender.ts';
import { sealedForTest, testMailTokenSecret } from './support/config.ts';

const brand = { productName: 'Veche', publicUrl: 'https://veche.test/' };

const posted = (notify: ChatMessagePosted['notify']): ChatMessagePosted => ({
  roomId: 'r1',
  roomKind: 'room',
  roomName: 'general',
  messageId: 'm1',
  seq: 3,
  senderId: 'u-sender',
  senderDisplayName: 'Sasha',
  text: 'hi',
  sentAt: '2026-11-23T10:00:00Z',
  notify,
});

const recipient = (userId: string, notify: Recipient['notify']): Recipient => ({
  userId,
  email: `${userId}@example.org`,
  displayName: userId,
  locale: 'en',
  notify,
});

describe('which mails an event produces', () => {
  it('keys a mail by event, recipient and kind, and derives a stable id and Message-ID from the key', () => {
    const key = idempotencyKey('e1', 'u1', 'verify_email');
    assert.equal(key, 'e1/u1/verify_email');
    assert.equal(mailIdOf(key), mailIdOf('e1/u1/verify_email'));
    assert.notEqual(mailIdOf(key), mailIdOf(idempotencyKey('e1', 'u1', 'password_reset')));
    assert.equal(messageIdOf('abc', 'Veche <no-reply@veche.test>'), '<abc@veche.test>');
    assert.equal(messageIdOf('abc', 'no-reply@mail.example.org'), '<abc@mail.example.org>');
  });

  it('a registration yields one verification mail; rendering it twice gives the same draft', () => {
    const data = {
      userId: 'u1',
      email: 'a@example.org',
      displayName: 'A',
      locale: 'en',
      sealedToken: 'sealed-t',
    };
    const [first, ...rest] = mailsForRegistration(brand, 'e1', data);
    assert.equal(rest.length, 0);
    assert.deepEqual(mailsForRegistration(brand, 'e1', data), [first]);
    assert.equal(first?.category, 'security');
    assert.ok(
      first?.text.includes(`https://veche.test/verify-email?token=${linkTokenPlaceholder}`),
      'no double slash from the public URL; the token is put in only when sending',
    );
    assert.deepEqual(first?.linkToken, { purpose: 'verify_email', userId: 'u1', sealed: 'sealed-t' });
    assert.deepEqual(first?.headers, {});
  });

  it('an e-mail change yields a confirmation to the new address and a notice to the current one', () => {
    const data = {
      userId: 'u1',
      currentEmail: 'old@example.org',
      newEmail: 'new@example.org',
      displayName: 'A',
      locale: 'ru',
      sealedToken: 'sealed-t',
    };
    const mails = mailsForEmailChange(brand, 'e2', data);
    assert.deepEqual(
      mails.map((m) => [m.kind, m.to, m.locale]),
      [
        ['email_change_confirm', 'new@example.org', 'ru'],
        ['email_change_notice', 'old@example.org', 'ru'],
      ],
    );
    assert.equal(mailsForEmailChange(brand, 'e2', { ...data, newEmail: 'OLD@example.org' }).length, 1);
  });

  it('decides per recipient: immediately, digest, never, unknown, and never the sender', () => {
    const recipients = new Map([
      ['u-now', recipient('u-now', 'immediately')],
      ['u-digest', recipient('u-digest', 'digest')],
      ['u-never', recipient('u-never', 'never')],
      ['u-default', recipient('u-default', undefined)],
      ['u-sender', recipient('u-sender', 'immediately')],
    ]);
    const decisions = decideChatNotifications(
      posted([
        { userId: 'u-now', reason: 'mention' },
        { userId: 'u-digest', reason: 'mention' },
        { userId: 'u-never', reason: 'mention' },
        { userId: 'u-default', reason: 'mention' },
        { userId: 'u-ghost', reason: 'mention' },
        { userId: 'u-sender', reason: 'mention' },
        { userId: 'u-now', reason: 'mention' },
      ]),
      recipients,
      'digest',
    );
    assert.deepEqual(
      decisions.map((d) => [d.userId, d.action === 'skip' ? `skip:${d.reason}` : d.action]),
      [
        ['u-now', 'immediately'],
        ['u-digest', 'digest'],
        ['u-never', 'skip:never'],
        ['u-default', 'digest'],
        ['u-ghost', 'skip:unknown-recipient'],
        ['u-sender', 'skip:sender'],
      ],
    );
  });

  it('a notification mail carries List-Unsubscribe and is keyed by its event', () => {
    const mail = notificationMail(
      brand,
      'chat_digest',
      'e9',
      recipient('u1', 'digest'),
      [
        {
          roomId: 'r',
          roomKind: 'dm',
          seq: 1,
          senderDisplayName: 'B',
          text: 'x',
          sentAt: '2026-11-23T10:00:00Z',
          reason: 'direct',
        },
      ],
      'tok',
    );
    assert.equal(mail.idempotencyKey, 'e9/u1/chat_digest');
    assert.equal(mail.category, 'notification');
    assert.equal(mail.headers['List-Unsubscribe'], '<https://veche.test/unsubscribe?token=tok>');
  });
});

describe('link tokens', () => {
  const mail = (userId: string) => {
    const [draft] = mailsForRegistration(brand, 'e9', {
      userId,
      email: 'a@example.org',
      displayName: 'A',
      locale: 'en',
      sealedToken: sealedForTest('verify_email', userId, 'the-real-token'),
    });
    assert.ok(draft);
    return { text_body: draft.text, html_body: draft.html, link_token: draft.linkToken ?? null };
  };

  it('are stored sealed and put into the bodies only as the mail is sent', () => {
    const stored = mail('u9');
    assert.ok(!stored.text_body.includes('the-real-token') && !stored.html_body.includes('the-real-token'));
    const sent = withLinkToken(stored, testMailTokenSecret);
    assert.ok(sent?.text.includes('https://veche.test/verify-email?token=the-real-token'));
    assert.match(sent?.html ?? '', /href="https:\/\/veche\.test\/verify-email\?token=the-real-token"/);
    assert.ok(!sent?.text.includes(linkTokenPlaceholder));
  });

  it('cannot be opened with another secret or for another account', () => {
    assert.equal(withLinkToken(mail('u9'), 'another-secret-0123456789'), undefined);
    const moved = { ...mail('u9'), link_token: { ...mail('u9').link_token!, userId: 'u10' } };
    assert.equal(withLinkToken(moved, testMailTokenSecret), undefined);
    assert.equal(withLinkToken(mail('u9'), undefined), undefined);
  });

  it('are hidden in what an administrator sees, unsubscribe tokens and old stored ones included', () => {
    assert.equal(
      hideLinkTokens(
        'a https://x.test/verify-email?token=abc_DEF-1 b\n<a href="https://x.test/unsubscribe?token=dTE.sig">' +
          '<a href="https://x.test/r?x=1&amp;token=zz">',
      ),
      'a https://x.test/verify-email?token=[hidden] b\n<a href="https://x.test/unsubscribe?token=[hidden]">' +
        '<a href="https://x.test/r?x=1&amp;token=[hidden]">',
    );
  });
});

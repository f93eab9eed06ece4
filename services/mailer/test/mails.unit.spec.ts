import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideChatNotifications,
  idempotencyKey,
  mailIdOf,
  mailsForEmailChange,
  mailsForRegistration,
  messageIdOf,
  notificationMail,
  type Recipient,
} from '../src/domain/mails.ts';
import type { ChatMessagePosted } from '../src/events.ts';

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
      verificationToken: 't',
    };
    const [first, ...rest] = mailsForRegistration(brand, 'e1', data);
    assert.equal(rest.length, 0);
    assert.deepEqual(mailsForRegistration(brand, 'e1', data), [first]);
    assert.equal(first?.category, 'security');
    assert.ok(
      first?.text.includes('https://veche.test/verify-email?token=t'),
      'no double slash from the public URL',
    );
    assert.deepEqual(first?.headers, {});
  });

  it('an e-mail change yields a confirmation to the new address and a notice to the current one', () => {
    const data = {
      userId: 'u1',
      currentEmail: 'old@example.org',
      newEmail: 'new@example.org',
      displayName: 'A',
      locale: 'ru',
      verificationToken: 't',
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

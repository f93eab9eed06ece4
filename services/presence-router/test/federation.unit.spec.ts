/** The federation link's wire format and its credential (issue 20): what is accepted and refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../src/domain/address.ts';
import {
  claimedDomain,
  federationAuthorization,
  federationSkewMs,
  parseBatch,
  parseHistoryAnswer,
  parseWatcherMessage,
  verifyFederationAuthorization,
} from '../src/federation/protocol.ts';
import { parseCli, UsageError } from '../src/cli/args.ts';

const secret = 'a shared secret of some length';

describe('federation credential', () => {
  it('is accepted for the domain it was made for, within the clock skew', () => {
    const now = 1_800_000_000_000;
    const header = federationAuthorization(secret, 'a.test', 'b.test', now);
    assert.equal(claimedDomain(header), 'a.test');
    assert.equal(verifyFederationAuthorization(header, secret, 'b.test', now + 1000), true);
  });

  it('is refused with another secret, for another domain, too old, or tampered with', () => {
    const now = 1_800_000_000_000;
    const header = federationAuthorization(secret, 'a.test', 'b.test', now);
    assert.equal(verifyFederationAuthorization(header, 'another secret entirely', 'b.test', now), false);
    assert.equal(verifyFederationAuthorization(header, secret, 'c.test', now), false);
    assert.equal(verifyFederationAuthorization(header, secret, 'b.test', now + federationSkewMs + 1), false);
    assert.equal(
      verifyFederationAuthorization(header.replace('a.test', 'x.test'), secret, 'b.test', now),
      false,
    );
    assert.equal(verifyFederationAuthorization('Bearer abc', secret, 'b.test', now), false);
    assert.equal(claimedDomain('Bearer abc'), undefined);
  });
});

describe('federation messages', () => {
  it('reads hello and watch messages, and refuses anything else', () => {
    assert.deepEqual(
      parseWatcherMessage('{"type":"hello","checkpoint":null,"watch":[["u1","v1"]],"fresh":[]}', 10),
      {
        type: 'hello',
        checkpoint: null,
        watch: [['u1', 'v1']],
        fresh: [],
      },
    );
    assert.equal(
      parseWatcherMessage(
        '{"type":"hello","checkpoint":{"transactionId":"x","globalPosition":1},"watch":[],"fresh":[]}',
        10,
      ),
      undefined,
    );
    assert.equal(parseWatcherMessage('{"type":"watch","add":[["u1","v 1"]],"remove":[]}', 10), undefined);
    assert.equal(
      parseWatcherMessage('{"type":"watch","add":[["a","b"],["c","d"]],"remove":[]}', 1),
      undefined,
    );
    assert.equal(parseWatcherMessage('not json', 10), undefined);
  });

  it('reads batches, and refuses bad statuses and ids', () => {
    const batch = parseBatch(
      '{"type":"batch","changes":[{"u":"u1","w":"v1","s":2,"t":"\\"1627128694.693686\\""}],"checkpoint":{"transactionId":"123","globalPosition":4},"at":"2026-12-02T00:00:00.000Z"}',
    );
    assert.equal(batch?.changes[0]?.s, 2);
    assert.equal(batch?.checkpoint?.globalPosition, 4);
    assert.equal(
      parseBatch('{"type":"batch","changes":[{"u":"u1","w":"v1","s":9}],"checkpoint":null}'),
      undefined,
    );
    assert.equal(
      parseBatch('{"type":"batch","changes":[{"u":"u/1","w":"v1","s":1}],"checkpoint":null}'),
      undefined,
    );
  });

  it('addresses users of linked domains as <userId>@<domain>', () => {
    assert.deepEqual(parseAddress('0192abcd-ef@b.example.org'), {
      kind: 'remote',
      userId: '0192abcd-ef',
      domain: 'b.example.org',
    });
    assert.equal(parseAddress('u@B.example'), undefined);
    assert.equal(parseAddress('u@'), undefined);
  });
});

describe('veche-presence link, unlink, links', () => {
  const api = { VECHE_URL: 'https://a.example.org', VECHE_TOKEN: 't', VECHE_FEDERATION_SECRET: secret };
  it('takes the secret from the environment, never from the command line', () => {
    const parsed = parseCli(['link', 'b.example.org', 'wss://b.example.org/pubsub/federation'], api);
    assert.ok(!parsed.help);
    assert.deepEqual(parsed.command, {
      name: 'link',
      domain: 'b.example.org',
      url: 'wss://b.example.org/pubsub/federation',
      secret,
    });
    assert.throws(
      () =>
        parseCli(['link', 'b.example.org', 'wss://b.example.org/x'], { ...api, VECHE_FEDERATION_SECRET: '' }),
      UsageError,
    );
    assert.throws(() => parseCli(['link', 'B_ad', 'wss://b/x'], api), UsageError);
    assert.throws(() => parseCli(['link', 'b.example.org', 'https://b/x'], api), UsageError);
    assert.deepEqual((parseCli(['unlink', 'b.example.org'], api) as { command: unknown }).command, {
      name: 'unlink',
      domain: 'b.example.org',
    });
    assert.deepEqual((parseCli(['links'], api) as { command: unknown }).command, { name: 'links' });
    assert.throws(() => parseCli(['links', 'x'], api), UsageError);
  });
});

describe('federation history questions', () => {
  it('are read with their filters, and refused when malformed', () => {
    assert.deepEqual(
      parseWatcherMessage(
        JSON.stringify({ type: 'history', id: 3, user: 'bob', viewer: 'alice', status: 1, limit: 1 }),
        10,
      ),
      { type: 'history', id: 3, user: 'bob', viewer: 'alice', status: 1, limit: 1 },
    );
    for (const bad of [
      { type: 'history', id: 'x', user: 'bob', viewer: 'alice' },
      { type: 'history', id: 1, user: 'bob@b.test', viewer: 'alice' },
      { type: 'history', id: 1, user: 'bob', viewer: 'alice', status: 9 },
      { type: 'history', id: 1, user: 'bob', viewer: 'alice', limit: 501 },
      { type: 'history', id: 1, user: 'bob', viewer: 'alice', before: 'yesterday' },
    ])
      assert.equal(parseWatcherMessage(JSON.stringify(bad), 10), undefined, JSON.stringify(bad));
  });

  it('answers are taken only for the question asked', () => {
    const answer = {
      type: 'history',
      id: 4,
      status: 2,
      changes: [{ status: 2, at: '2026-01-01T00:00:00Z' }],
      hasMore: false,
    };
    assert.deepEqual(parseHistoryAnswer(JSON.stringify(answer), 4), {
      ...answer,
      changes: [{ status: 2, at: '2026-01-01T00:00:00.000Z' }],
    });
    assert.equal(parseHistoryAnswer(JSON.stringify(answer), 5), undefined);
    assert.equal(parseHistoryAnswer(JSON.stringify({ ...answer, status: 0 }), 4), undefined);
    assert.equal(parseHistoryAnswer('{', 4), undefined);
  });
});

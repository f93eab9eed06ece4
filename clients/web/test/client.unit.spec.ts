import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { place } from '../src/api/place.ts';
import { en } from '../src/i18n/en.ts';
import { format } from '../src/i18n/format.ts';
import { ru } from '../src/i18n/ru.ts';
import { describeDevice } from '../src/session/device.ts';
import { negotiateRefusal, negotiateTwice } from '../src/session/kerberos.ts';
import { onTokenChange, refreshDelay } from '../src/session/refresh.ts';

describe('route placement', () => {
  it('fills path parameters (encoded) and sends the rest as query for GET and DELETE', () => {
    assert.deepEqual(place('GET', '/rooms/:roomId/messages', { roomId: 'a b', after: 5, limit: 100 }), {
      path: '/rooms/a%20b/messages',
      query: { after: 5, limit: 100 },
      body: undefined,
    });
    assert.deepEqual(
      place('DELETE', '/rooms/:roomId/messages/:messageId/reactions/:emoji', {
        roomId: 'r',
        messageId: 'm',
        emoji: '👍',
      }),
      {
        path: '/rooms/r/messages/m/reactions/%F0%9F%91%8D',
        query: {},
        body: undefined,
      },
    );
  });

  it('sends the rest as the body otherwise', () => {
    assert.deepEqual(place('POST', '/rooms/:roomId/invite', { roomId: 'r', userId: 'u' }), {
      path: '/rooms/r/invite',
      query: {},
      body: { userId: 'u' },
    });
  });

  it('refuses a missing or empty path parameter instead of calling a wrong URL', () => {
    assert.throws(() => place('POST', '/rooms/:roomId/join', {}), /missing path parameter roomId/);
    assert.throws(() => place('POST', '/rooms/:roomId/join', { roomId: '' }), /empty path parameter roomId/);
  });
});

describe('token refresh schedule', () => {
  it('refreshes a minute before expiry, at 80 % for short lifetimes, never sooner than a second', () => {
    assert.equal(refreshDelay(15 * 60_000), 14 * 60_000);
    assert.equal(refreshDelay(60_000), 48_000);
    assert.equal(refreshDelay(500), 1_000);
  });
});

describe('translations', () => {
  const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

  it('Russian has every English string, none empty, with the same placeholders', () => {
    assert.deepEqual(Object.keys(ru).sort(), Object.keys(en).sort());
    for (const [key, english] of Object.entries(en)) {
      const russian = ru[key as keyof typeof en];
      assert.ok(russian.trim().length > 0, `${key} is empty in Russian`);
      assert.deepEqual(placeholders(russian), placeholders(english), `${key} placeholders differ`);
    }
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    assert.equal(format('{a} and {b}', { a: 'Ann', b: 2 }), 'Ann and 2');
    assert.equal(format('{a} and {c}', { a: 'Ann' }), 'Ann and {c}');
  });
});

describe('device names', () => {
  it('names a browser and its system from the User-Agent', () => {
    const chromeLinux =
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
    assert.equal(describeDevice(chromeLinux), 'Chrome on Linux');
    assert.equal(
      describeDevice(
        'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Safari/605.1.15',
      ),
      'Safari on iOS',
    );
    assert.equal(
      describeDevice('Mozilla/5.0 (Windows NT 10.0; rv:140.0) Gecko/20100101 Firefox/140.0'),
      'Firefox on Windows',
    );
    assert.equal(describeDevice(''), 'Unknown device');
  });
});

describe('the realtime connection follows the token', () => {
  it('reconnects on each refreshed token, not on the first token nor on log-out', () => {
    let state: { accessToken: string } | undefined;
    const listeners = new Set<() => void>();
    const store = {
      get: () => state,
      subscribe: (listener: () => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const set = (next: typeof state) => {
      state = next;
      for (const listener of listeners) listener();
    };
    let restarts = 0;
    const stop = onTokenChange(store, () => (restarts += 1));
    set({ accessToken: 'a' });
    assert.equal(restarts, 0, 'the first token');
    set({ accessToken: 'a' });
    assert.equal(restarts, 0, 'the same token');
    set({ accessToken: 'b' });
    assert.equal(restarts, 1, 'a refresh');
    set(undefined);
    assert.equal(restarts, 1, 'log-out');
    set({ accessToken: 'c' });
    assert.equal(restarts, 1, 'a new log-in starts its own connection');
    stop();
    set({ accessToken: 'd' });
    assert.equal(restarts, 1, 'stopped');
  });
});

describe('Kerberos sign-in', () => {
  /** The shape of the client's ApiError (api/http.ts needs the DOM's types). */
  class ApiError extends Error {
    readonly code: string;
    readonly details: unknown;
    constructor(code: string, message: string, details?: unknown) {
      super(message);
      this.code = code;
      this.details = details;
    }
  }
  const refusal = (reason: string) => new ApiError('unauthorized', 'refused', { reason });

  it('reads the gateway’s reason for a refusal', () => {
    assert.equal(negotiateRefusal(refusal('unknown_principal')), 'unknown_principal');
    assert.equal(negotiateRefusal(new ApiError('not_found', 'off')), undefined);
    assert.equal(negotiateRefusal(new ApiError('unauthorized', 'no details')), undefined);
    assert.equal(negotiateRefusal(new Error('network')), undefined);
  });

  it('asks once more only when the browser sent no token, and only once', async () => {
    const answers = (...results: (string | ApiError)[]) => {
      let calls = 0;
      const next = async () => {
        const result = results[calls++];
        if (result instanceof ApiError) throw result;
        return result;
      };
      return { next, calls: () => calls };
    };
    const firstEmpty = answers(refusal('missing_token'), 'tokens');
    assert.equal(await negotiateTwice(firstEmpty.next), 'tokens');
    assert.equal(firstEmpty.calls(), 2);

    const noTicket = answers(refusal('missing_token'), refusal('missing_token'), 'never');
    await assert.rejects(negotiateTwice(noTicket.next), (e) => negotiateRefusal(e) === 'missing_token');
    assert.equal(noTicket.calls(), 2);

    const unlinked = answers(refusal('unknown_principal'), 'never');
    await assert.rejects(negotiateTwice(unlinked.next), (e) => negotiateRefusal(e) === 'unknown_principal');
    assert.equal(unlinked.calls(), 1);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogRenderer } from '../logs.ts';

const renderer = createLogRenderer({ colour: false, names: ['wamp-router', 'mailer'] });

describe('fleet log renderer', () => {
  it('renders a pino line as time, process, level, message and fields', () => {
    const line = renderer.line(
      'mailer',
      JSON.stringify({
        level: 'info',
        time: '2026-11-23T11:00:00.123Z',
        service: 'mailer',
        msg: 'sent',
        mailId: 'm1',
      }),
      'stdout',
    );
    assert.equal(line, '11:00:00.123 mailer      INFO  sent mailId=m1');
  });

  it('shows control characters from client-supplied text escaped, never raw', () => {
    const hostile = 'x\x1b]0;pwned\x07\x1b[2J';
    const line = renderer.line(
      'wamp-router',
      JSON.stringify({
        level: 30,
        time: Date.now(),
        msg: `denied ${hostile}`,
        authid: hostile,
        err: { stack: hostile },
      }),
      'stdout',
    );
    assert.doesNotMatch(line, /[\x07\x1b]/);
    assert.match(line, /\\u001b\]0;pwned\\u0007/);
  });

  it('passes lines that are not JSON through', () => {
    assert.match(renderer.line('mailer', 'plain text', 'stderr'), /mailer\s+plain text$/);
  });
});

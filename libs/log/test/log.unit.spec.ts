import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { componentLogger, createLogger, withCorrelationId } from '../src/index.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, destination };
}

describe('log', () => {
  it('puts service, component and the current correlationId on every line', async () => {
    const { lines, destination } = capture();
    const log = componentLogger(createLogger({ service: 'chat', destination }), 'relay');
    log.info('outside');
    await withCorrelationId('corr-1', async () => {
      await Promise.resolve();
      log.info({ roomId: 'r1' }, 'inside');
    });
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!['service'], 'chat');
    assert.equal(lines[0]!['component'], 'relay');
    assert.equal(lines[0]!['correlationId'], undefined);
    assert.equal(lines[1]!['correlationId'], 'corr-1');
    assert.equal(lines[1]!['roomId'], 'r1');
    assert.equal(lines[1]!['level'], 'info');
  });

  it('never writes secrets', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 'gateway', destination });
    log.info(
      { password: 'hunter2', body: { refreshToken: 'rt' }, req: { headers: { authorization: 'Bearer x' } } },
      'login',
    );
    const text = JSON.stringify(lines);
    assert.ok(!text.includes('hunter2'));
    assert.ok(!text.includes('"rt"'));
    assert.ok(!text.includes('Bearer x'));
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ensureSystemCommands, PreflightError, systemCommands } from '../preflight.ts';

describe('ensureSystemCommands', () => {
  it('passes when every command is on the PATH', () => {
    assert.doesNotThrow(() => ensureSystemCommands({ log: () => {}, commands: { sh: 'dash' } }));
  });

  it('names what is missing and the apt command when it may not install (VECHE_NO_APT=1)', () => {
    const saved = process.env['VECHE_NO_APT'];
    process.env['VECHE_NO_APT'] = '1';
    try {
      assert.throws(
        () =>
          ensureSystemCommands({
            log: () => {},
            commands: { 'veche-no-such-tool': 'veche-no-such-package' },
          }),
        (error: unknown) =>
          error instanceof PreflightError &&
          /Missing veche-no-such-tool/.test(error.message) &&
          /apt-get update && apt-get install -y veche-no-such-package/.test(error.message),
      );
    } finally {
      if (saved === undefined) delete process.env['VECHE_NO_APT'];
      else process.env['VECHE_NO_APT'] = saved;
    }
  });

  it('covers what the deployment tests run', () => {
    for (const command of [
      'nginx',
      'certbot',
      'pebble',
      'pebble-challtestsrv',
      'shellcheck',
      'pgbackrest',
      'restic',
      'sshd',
      'sshfs',
      'lsyncd',
      'vagrant',
      'debootstrap',
    ]) {
      assert.ok(command in systemCommands, command);
    }
  });
});

/**
 * crossbar/config.json against the rules of Crossbar's own configuration checker (checkconfig.py of
 * Crossbar 21.x, the parts this file uses), and against the gateway: the authenticator and authorizer
 * it names are the procedures the gateway registers, and every service of the fleet has a principal.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { securityProcedures } from '../src/wamp-security.ts';

const root = new URL('../../../', import.meta.url);
type Json = Record<string, unknown>;
const config = JSON.parse(readFileSync(new URL('crossbar/config.json', root), 'utf8')) as Json;

const uriStrict = /^([0-9a-z_]+\.)*([0-9a-z_]+)$/;
const uriStrictLastEmpty = /^(([0-9a-z_]+\.)*([0-9a-z_]+))?$/;
const itemId = /^[a-z][a-z0-9_]{2,11}$/;
const realmName = /^[A-Za-z][A-Za-z0-9_\-@.]{2,254}$/;
const envValue = /^\$\{(.+)\}$/;

function onlyKeys(value: unknown, allowed: readonly string[], where: string): Json {
  assert.ok(
    typeof value === 'object' && value !== null && !Array.isArray(value),
    `${where} must be an object`,
  );
  for (const key of Object.keys(value))
    assert.ok(allowed.includes(key), `${where}: unknown attribute '${key}'`);
  return value as Json;
}

describe('crossbar/config.json', () => {
  it('has the structure Crossbar accepts', () => {
    onlyKeys(config, ['$schema', 'version', 'controller', 'workers'], 'top level');
    assert.equal(config['version'], 2);
    const workers = config['workers'] as Json[];
    assert.equal(workers.length, 1);
    const router = onlyKeys(
      workers[0],
      ['id', 'type', 'options', 'manhole', 'realms', 'transports', 'components', 'connections'],
      'router',
    );
    assert.equal(router['type'], 'router');
    for (const realm of router['realms'] as Json[]) {
      onlyKeys(realm, ['name', 'roles', 'options', 'store'], 'realm');
      assert.match(String(realm['name']), realmName);
      for (const role of realm['roles'] as Json[]) {
        onlyKeys(role, ['name', 'permissions', 'authorizer'], `role ${String(role['name'])}`);
        assert.ok(
          !('authorizer' in role && 'permissions' in role),
          'a role has either an authorizer or permissions',
        );
        if ('authorizer' in role) assert.match(String(role['authorizer']), uriStrict);
        for (const permission of (role['permissions'] as Json[] | undefined) ?? []) {
          onlyKeys(permission, ['uri', 'match', 'allow', 'disclose', 'cache'], 'permission');
          assert.ok(['exact', 'prefix', 'wildcard'].includes(String(permission['match'])));
          assert.match(String(permission['uri']), uriStrictLastEmpty);
          const allow = onlyKeys(permission['allow'], ['call', 'register', 'publish', 'subscribe'], 'allow');
          for (const v of Object.values(allow)) assert.equal(typeof v, 'boolean');
          onlyKeys(permission['disclose'], ['caller', 'publisher'], 'disclose');
          assert.equal(typeof permission['cache'], 'boolean');
        }
      }
    }
    for (const transport of router['transports'] as Json[]) {
      onlyKeys(
        transport,
        ['id', 'type', 'endpoint', 'url', 'serializers', 'debug', 'options', 'auth', 'cookie'],
        'websocket transport',
      );
      assert.equal(transport['type'], 'websocket');
      assert.match(String(transport['id']), itemId);
      const endpoint = onlyKeys(
        transport['endpoint'],
        ['type', 'version', 'port', 'shared', 'interface', 'backlog', 'tls', 'user_timeout'],
        'endpoint',
      );
      assert.equal(endpoint['type'], 'tcp');
      assert.ok(
        Number.isInteger(endpoint['port']) &&
          (endpoint['port'] as number) > 0 &&
          (endpoint['port'] as number) < 65536,
      );
      for (const s of transport['serializers'] as string[])
        assert.ok(['json', 'msgpack', 'cbor', 'ubjson', 'flatbuffers'].includes(s));
      const options = onlyKeys(
        transport['options'],
        [
          'allowed_origins',
          'allow_null_origin',
          'external_port',
          'open_handshake_timeout',
          'close_handshake_timeout',
          'enable_webstatus',
          'validate_utf8',
          'max_frame_size',
          'max_message_size',
          'auto_fragment_size',
          'fail_by_drop',
          'echo_close_codereason',
          'tcp_nodelay',
          'auto_ping_interval',
          'auto_ping_timeout',
          'auto_ping_size',
          'compression',
          'require_websocket_subprotocol',
          'enable_flash_policy',
        ],
        'websocket options',
      );
      for (const name of ['open_handshake_timeout', 'auto_ping_interval', 'auto_ping_timeout']) {
        if (name in options)
          assert.ok(
            (options[name] as number) === 0 || (options[name] as number) >= 1000,
            `${name} is in milliseconds`,
          );
      }
      const size = options['max_message_size'] as number;
      assert.ok(size >= 1 && size <= 64 * 1024 * 1024);
      const auth = onlyKeys(
        transport['auth'],
        ['anonymous', 'ticket', 'wampcra', 'tls', 'cookie', 'cryptosign', 'scram'],
        'auth',
      );
      const ticket = auth['ticket'] as Json;
      assert.ok(ticket['type'] === 'static' || ticket['type'] === 'dynamic');
      if (ticket['type'] === 'dynamic') {
        onlyKeys(ticket, ['type', 'authenticator', 'authenticator-realm'], 'dynamic ticket');
        assert.match(String(ticket['authenticator']), uriStrict);
      } else {
        onlyKeys(ticket, ['type', 'principals'], 'static ticket');
        for (const [authid, principal] of Object.entries(ticket['principals'] as Json)) {
          const p = onlyKeys(principal, ['ticket', 'role'], `principal ${authid}`);
          assert.equal(typeof p['ticket'], 'string');
          assert.match(String(p['ticket']), envValue, 'secrets come from the environment, never the file');
        }
      }
    }
  });

  it('realm veche, a WebSocket transport on 8080 with JSON and MessagePack, the gateway’s authenticator and authorizer, the service role', () => {
    const router = (config['workers'] as Json[])[0] as Json;
    const realm = (router['realms'] as Json[])[0] as Json;
    assert.equal(realm['name'], 'veche');
    const roles = realm['roles'] as Json[];
    assert.equal(roles.find((r) => r['name'] === 'user')?.['authorizer'], securityProcedures.authorize);
    const service = roles.find((r) => r['name'] === 'service')?.['permissions'] as Json[];
    assert.deepEqual(service[0]?.['allow'], { call: true, register: true, publish: true, subscribe: true });
    const transports = router['transports'] as Json[];
    const publicTransport = transports.find((t) => (t['endpoint'] as Json)['port'] === 8080) as Json;
    assert.deepEqual(publicTransport['serializers'], ['json', 'msgpack']);
    assert.deepEqual((publicTransport['auth'] as Json)['ticket'], {
      type: 'dynamic',
      authenticator: securityProcedures.authenticate,
    });
  });

  it('discloses no publisher or caller: browsers never learn a service’s session id or authid', () => {
    const router = (config['workers'] as Json[])[0] as Json;
    for (const realm of router['realms'] as Json[])
      for (const role of realm['roles'] as Json[])
        for (const permission of (role['permissions'] as Json[] | undefined) ?? [])
          assert.deepEqual(
            permission['disclose'] ?? { caller: false, publisher: false },
            { caller: false, publisher: false },
            `role ${String(role['name'])}`,
          );
  });

  it('gives every service of the fleet a principal with the role service', () => {
    const services = readdirSync(new URL('services/', root)).filter((name) => {
      try {
        const pkg = JSON.parse(readFileSync(new URL(`services/${name}/package.json`, root), 'utf8')) as {
          veche?: { fleet?: unknown };
        };
        return pkg.veche?.fleet !== undefined;
      } catch {
        return false;
      }
    });
    const router = (config['workers'] as Json[])[0] as Json;
    const internal = (router['transports'] as Json[]).find(
      (t) => (t['auth'] as { ticket: Json }).ticket['type'] === 'static',
    ) as Json;
    const principals = ((internal['auth'] as Json)['ticket'] as Json)['principals'] as Record<string, Json>;
    for (const name of services)
      assert.equal(principals[`service:${name}`]?.['role'], 'service', `service:${name}`);
  });
});

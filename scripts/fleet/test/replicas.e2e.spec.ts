/**
 * Two replicas of every service behind the local router (VECHE_REPLICAS=2, as stack.yml runs them):
 * every replica starts (the router refuses a second callee of a single registration, as Crossbar
 * does, so this fails unless every shared procedure is registered round-robin), every procedure /api
 * forwards is answered by a callee, and it still is after one replica of every service is killed
 * (SIGKILL), /api included (the origin passes over the dead gateway); and calls are spread over both replicas (each counts what it answered in
 * veche_wamp_procedure_calls_total, read from its own /metrics through the origin).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as contracts from '@veche/contracts';
import { connectWampClient, eventually, type TestWampClient } from '@veche/testing';
import { startFleet, type Fleet } from './support/fleet.ts';

const secret = 'fleet-replicas-secret-' + Math.random().toString(36).slice(2);

interface FleetStatus {
  processes: { name: string; pid: number | undefined; status: string }[];
}

/** Every procedure the gateway forwards to another service (its own are answered in-process). */
const forwarded = [
  ...new Set(
    Object.values(contracts as Record<string, unknown>)
      .filter((value): value is { kind: string; procedure: string }[] => Array.isArray(value))
      .flat()
      .filter(
        (route) =>
          typeof route === 'object' &&
          route !== null &&
          route.kind === 'rpc' &&
          typeof route.procedure === 'string' &&
          !route.procedure.startsWith('veche.gateway.'),
      )
      .map((route) => route.procedure),
  ),
].sort();

describe('the fleet with two replicas of every service', { timeout: 600_000 }, () => {
  let fleet: Fleet;
  let caller: TestWampClient;
  const wsUrl = () => `${fleet.origin.replace('http', 'ws')}/ws`;
  const status = async () => (await (await fetch(`${fleet.origin}/_fleet/status`)).json()) as FleetStatus;
  const serviceSessions = async () =>
    new Set((await caller.session.call('wamp.session.list', [['service']])) as number[]);

  /** Calls every forwarded procedure; answers the ones no callee answered. */
  const unanswered = async () => {
    const missing: string[] = [];
    for (const procedure of forwarded) {
      try {
        await caller.session.call(procedure, [], { actor: { userId: 'nobody', role: 'user' }, input: {} });
      } catch (error) {
        // A refusal (validation, not_found, forbidden…) comes from a callee: the procedure is served.
        const uri = (error as { error?: string }).error ?? String(error);
        if (uri === 'wamp.error.no_such_procedure' || uri === 'wamp.error.canceled') missing.push(procedure);
      }
    }
    return missing;
  };

  before(async () => {
    fleet = await startFleet({
      env: { VECHE_SERVICE_SECRET: secret, VECHE_REPLICAS: '2', REQUIRE_VERIFIED_EMAIL: 'false' },
    });
    caller = await connectWampClient(wsUrl(), 'service:fleet-test', secret);
  });
  after(async () => {
    caller?.close();
    await fleet?.stop();
  });

  it('starts both replicas of every service and serves every forwarded procedure', async () => {
    assert.ok(forwarded.length >= 10, `found ${forwarded.length} forwarded procedures`);
    const { processes } = await status();
    const services = processes.filter((p) => p.name !== 'wamp-router' && !p.name.includes('#'));
    assert.ok(services.length >= 4, processes.map((p) => p.name).join(', '));
    for (const service of services) {
      for (const name of [service.name, `${service.name}#2`]) {
        const process = processes.find((p) => p.name === name);
        assert.equal(process?.status, 'running', `${name} is ${process?.status ?? 'missing'}`);
      }
    }
    assert.deepEqual(await unanswered(), []);
  });

  it('spreads calls of one procedure over both replicas of its service', async () => {
    const procedure = 'veche.chat.listRooms';
    assert.ok(forwarded.includes(procedure), `${procedure} is forwarded`);
    const answered = async (name: string) => {
      const text = await (await fetch(`${fleet.origin}/_fleet/metrics/${encodeURIComponent(name)}`)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        if (line.startsWith('veche_wamp_procedure_calls_total{') && line.includes(`procedure="${procedure}"`))
          total += Number(line.split(' ').at(-1));
      }
      return total;
    };
    const before = [await answered('chat'), await answered('chat#2')];
    for (let i = 0; i < 20; i += 1) {
      await caller.session
        .call(procedure, [], { actor: { userId: `spread-${i}`, role: 'user' }, input: {} })
        .catch(() => undefined);
    }
    const after = [await answered('chat'), await answered('chat#2')];
    const served = after.map((n, i) => n - before[i]!);
    assert.equal(served[0]! + served[1]!, 20, `answered ${served.join(' + ')}`);
    // Round-robin: each replica answers about half; both at least a quarter.
    for (const n of served) assert.ok(n >= 5, `each replica answered some: ${served.join(' + ')}`);
  });

  it('keeps every procedure answered when one replica of each service is killed', async () => {
    const { processes } = await status();
    // The first replica of each: the origin's /api then has to pass over the dead gateway.
    const victims = processes.filter((p) => p.name !== 'wamp-router' && !p.name.includes('#'));
    const before = await serviceSessions();
    // Every victim holds at least one session (the gateway two); the supervisor restarts the victims,
    // so their new sessions come back: count the old ones that are gone.
    for (const victim of victims) {
      assert.ok(victim.pid, victim.name);
      process.kill(victim.pid, 'SIGKILL');
    }
    // Once the router has seen the connections drop (a call sent to a dying callee fails canceled).
    await eventually(
      async () => {
        const now = await serviceSessions();
        return [...before].filter((id) => !now.has(id)).length >= victims.length;
      },
      { timeoutMs: 30_000, message: 'the router saw the killed replicas go' },
    );
    assert.deepEqual(await unanswered(), []);
    // And a user still joins /ws: the surviving gateway replica authenticates and authorizes.
    const email = `replicas-${Date.now()}@example.org`;
    const password = 'long enough password';
    const registered = await fetch(`${fleet.origin}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, displayName: 'Replicas' }),
    });
    assert.equal(registered.status, 201);
    const login = await eventually(async () => {
      const r = await fetch(`${fleet.origin}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      return r.status === 200 ? ((await r.json()) as { accessToken: string; userId: string }) : undefined;
    });
    const user = await connectWampClient(wsUrl(), login.userId, login.accessToken);
    await user.session.subscribe(`veche.user.${login.userId}.rooms`, () => {});
    user.close();
  });
});

/**
 * Replication, failover and failback for real: two private PostgreSQL clusters (streaming, a slot,
 * the standby made by pg_basebackup), the real chat service posting through the failover endpoint,
 * the primary killed with SIGKILL mid-traffic, scripts/failover and scripts/failback run as an
 * operator runs them. Proves: with synchronous commit no acknowledged message is lost; with
 * asynchronous commit the loss (if any) is counted; posting works again within 60 s of the death
 * (RTO); the old primary rejoins by pg_rewind and streams; --dry-run changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  killPostmaster,
  nodeRunning,
  pgBin,
  query,
  runReplicaScript,
  startFailoverPair,
  type FailoverPair,
  type Node,
} from './support/clusters.ts';
import { startChatTraffic, type ChatTraffic } from './support/chat-traffic.ts';
import { eventually } from '@veche/testing';

const roleOf = async (n: Node) =>
  (await query<{ r: boolean }>(n.url(), 'select pg_is_in_recovery() as r'))[0]!.r ? 'standby' : 'primary';

/** Messages acknowledged to the posters (from the `from`-th on) that the new primary does not have. */
async function lostAcks(traffic: ChatTraffic, primary: Node, from = 0): Promise<string[]> {
  const rows = await query<{ id: string }>(
    primary.url('veche'),
    'select id from chat.messages where room_id = $1',
    [traffic.roomId],
  );
  const present = new Set(rows.map((r) => r.id));
  return traffic.acks
    .slice(from)
    .filter((a) => !present.has(a.messageId))
    .map((a) => a.messageId);
}

describe(
  'replication, failover and failback under chat traffic',
  { skip: pgBin ? false : 'no PostgreSQL server binaries' },
  () => {
    let pair: FailoverPair | undefined;
    let dir: string;
    let a: Node;
    let b: Node;
    let env: NodeJS.ProcessEnv;
    let traffic: ChatTraffic;
    const figures: string[] = [];

    before(async () => {
      pair = await startFailoverPair('replica');
      ({ dir, env } = pair);
      [a, b] = pair.nodes;
      traffic = await startChatTraffic(pair.url('veche'));
    });

    after(async () => {
      await traffic?.close();
      pair?.stop();
      if (figures.length) console.log(`[replica figures]\n${figures.join('\n')}`);
    });

    it('streams from the primary over the slot, and the standby is read-only', async () => {
      const rows = await query<{ application_name: string; state: string; slot: string }>(
        a.url(),
        `select r.application_name, r.state, s.slot_name as slot
       from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid`,
      );
      assert.deepEqual(rows, [
        { application_name: 'veche_standby', state: 'streaming', slot: 'veche_standby' },
      ]);
      assert.equal(await roleOf(b), 'standby');
      const lag = runReplicaScript('replica/lag', [], env);
      assert.equal(lag.status, 0, lag.output);
      assert.match(lag.output, /a -> veche_standby streaming async lag \d+ \w+ replay/);
      await assert.rejects(query(b.url('veche'), 'create table nope (x int)'), /read-only/);
    });

    it('--dry-run of failover and failback says what it would do and changes nothing', () => {
      const failover = runReplicaScript('failover', ['--dry-run'], env);
      assert.equal(failover.status, 0, failover.output);
      assert.match(failover.output, /would run: .*pg_ctl .*stop/);
      assert.match(failover.output, /would run: .*pg_promote/);
      assert.match(failover.output, /would run: ln -sfn/);
      assert.equal(nodeRunning(a), true);
      assert.equal(existsSync(path.join(dir, 'endpoint/.s.PGSQL.5432.new')), false);
      assert.equal(existsSync(path.join(a.data, 'veche.fenced')), false);
      const failback = runReplicaScript('failback', ['--dry-run', '--node', 'b'], env);
      assert.equal(failback.status, 0, failback.output);
      assert.match(failback.output, /would run: pg_rewind|would run: pg_receivewal/);
    });

    /** Posts, kills the primary, fails over, measures; returns the lost acknowledgements. */
    /**
     * Posts, cuts the standby off (the primary's WAL sender stopped with SIGSTOP) so that what the
     * primary commits next is on the primary alone, kills the primary, fails over, measures.
     * Asynchronous commit keeps acknowledging meanwhile (those posts are the loss window);
     * synchronous commit makes the posts wait for the standby instead, so none of them is
     * acknowledged. Returns the acknowledged posts the new primary lacks.
     */
    async function killAndFailOver(
      primary: Node,
      standby: Node,
      mode: 'asynchronous' | 'synchronous',
    ): Promise<string[]> {
      const phase = traffic.acks.length;
      traffic.startPosting(4);
      await traffic.firstAckAfter(Date.now() + 1_000);
      // The primary's WAL sender stopped (SIGSTOP): nothing committed from now on reaches the standby.
      const [sender] = await query<{ pid: number }>(primary.url(), 'select pid from pg_stat_replication');
      assert.ok(sender, 'the primary has a WAL sender');
      process.kill(sender.pid, 'SIGSTOP');
      const blinded = Date.now();
      if (mode === 'asynchronous') {
        // Posts sent from now on are committed after the sender stopped, and acknowledged all the same.
        await traffic.firstAckAfter(blinded + 1);
      } else {
        // Every poster's commit waits for the standby: the primary says so in pg_stat_activity.
        await eventually(
          async () =>
            Number(
              (
                await query<{ n: string }>(
                  primary.url(),
                  "select count(*) as n from pg_stat_activity where wait_event = 'SyncRep'",
                )
              )[0]?.n,
            ) >= 1,
          { timeoutMs: 30_000, message: 'commits waiting for the synchronous standby' },
        );
      }
      const died = Date.now();
      killPostmaster(primary);
      // The stopped sender outlives its postmaster: end it too, as the machine's death would.
      process.kill(sender.pid, 'SIGKILL');
      const blindAcks = traffic.acks.filter((x) => x.sentAt >= blinded && x.at <= died).length;
      const failover = runReplicaScript('failover', [], env);
      assert.equal(failover.status, 0, failover.output);
      assert.match(failover.output, new RegExp(`standby to promote: ${standby.name}`));
      const first = await traffic.firstAckAfter(died);
      const rto = first.at - died;
      await traffic.firstAckAfter(Date.now() + 1_000);
      await traffic.stopPosting();
      const lost = await lostAcks(traffic, standby, phase);
      figures.push(
        `${mode}: RTO ${rto} ms (primary killed → first acknowledged post on ${standby.name}); ` +
          `failover script ${failover.output.match(/failover done in (\d+ ms)/)?.[1]}; ` +
          `standby cut off for ${died - blinded} ms before the kill, ${blindAcks} posts acknowledged meanwhile; ` +
          `acknowledged ${traffic.acks.length - phase}, lost ${lost.length}`,
      );
      assert.ok(rto < 60_000, `RTO ${rto} ms`);
      assert.equal(await roleOf(standby), 'primary');
      if (mode === 'synchronous')
        assert.equal(blindAcks, 0, 'no post is acknowledged while the standby is cut off');
      return lost;
    }

    it('asynchronous: fails over within 60 s; what the cut-off standby missed is lost, and counted', async () => {
      const lost = await killAndFailOver(a, b, 'asynchronous');
      // The loss window is real with asynchronous commit: the posts acknowledged while the standby
      // was cut off are not on the new primary.
      assert.ok(lost.length > 0, 'asynchronous commit lost what the standby had not received');
      assert.equal(readFileSync(path.join(a.data, 'veche.fenced'), 'utf8'), '');
    });

    it('failback rewinds the old primary and it streams from the new one', async () => {
      const result = runReplicaScript('failback', ['--sync'], env);
      assert.equal(result.status, 0, result.output);
      assert.match(result.output, /rewinding a onto b's timeline/);
      assert.match(result.output, /pg_rewind|no rewind required/);
      assert.equal(await roleOf(a), 'standby');
      const [sync] = await query<{ sync_state: string }>(
        b.url(),
        'select sync_state from pg_stat_replication',
      );
      assert.equal(sync?.sync_state, 'sync');
      // What the new primary has, the rejoined standby has too.
      const [{ n: onPrimary }] = (await query<{ n: string }>(
        b.url('veche'),
        'select count(*) as n from chat.messages',
      )) as [{ n: string }];
      const [{ n: onStandby }] = (await query<{ n: string }>(
        a.url('veche'),
        `select count(*) as n from chat.messages`,
      )) as [{ n: string }];
      assert.equal(onStandby, onPrimary);
    });

    it('synchronous: loses no acknowledged message when the primary dies', async () => {
      const lost = await killAndFailOver(b, a, 'synchronous');
      assert.deepEqual(lost, [], 'acknowledged messages lost with synchronous commit');
    });

    it('a planned switch-over back loses nothing and the roles return', async () => {
      const rejoin = runReplicaScript('failback', ['--sync'], env);
      assert.equal(rejoin.status, 0, rejoin.output);
      const phase = traffic.acks.length;
      traffic.startPosting(2);
      await traffic.firstAckAfter(Date.now() + 500);
      const switched = runReplicaScript('failover', ['--planned'], env);
      assert.equal(switched.status, 0, switched.output);
      await traffic.firstAckAfter(Date.now() + 500);
      await traffic.stopPosting();
      assert.equal(await roleOf(b), 'primary');
      assert.deepEqual(await lostAcks(traffic, b, phase), []);
      const back = runReplicaScript('failback', ['--sync'], env);
      assert.equal(back.status, 0, back.output);
      assert.equal(await roleOf(a), 'standby');
    });
  },
);

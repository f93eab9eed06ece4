/**
 * A real sender: Debian's rsyslogd (imfile watching a file, omfwd forwarding it) into registered
 * sources over TCP with octet counting and over TLS (gtls, the listener's certificate as CA), the
 * lines visible in the API and the owner's live tail; and plain rsyslog LF framing with its forward
 * (RFC 3164 layout, RFC 3339 stamp) format.
 */
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  logProcedures as P,
  type LogEventsPage,
  type LogRealtimeEvent,
  type LogSource,
} from '@veche/contracts';
import { connectWampClient, eventually } from '@veche/testing';
import { startHarness, tokenOf, type Harness } from './support/harness.ts';
import { startRsyslog, type Rsyslog } from './support/rsyslog.ts';

let h: Harness;
const senders: Rsyslog[] = [];
before(async () => {
  h = await startHarness(import.meta.filename, { tls: true });
});
after(async () => {
  for (const s of senders) await s.stop();
  await h?.close();
});

const events = (userId: string, sourceId: string) =>
  h.call<LogEventsPage>(userId, P.events, { sourceId, limit: 1000 });

function forwarding(
  source: LogSource,
  options: { tls?: string; framing: 'octet-counted' | 'traditional'; template: string },
) {
  const tls = options.tls
    ? `StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"`
    : '';
  const global = options.tls ? `global(DefaultNetstreamDriverCAFile="${options.tls}")\n` : '';
  return startRsyslog(`${global}module(load="imfile")
input(type="imfile" File="{{dir}}/app.log" Tag="app.log" ruleset="veche")
ruleset(name="veche") {
  action(type="omfwd" target="127.0.0.1" port="${source.port}" protocol="tcp" TCP_Framing="${options.framing}"
         template="${options.template}" ${tls} action.resumeRetryCount="-1" action.resumeInterval="1")
}`);
}

describe('rsyslog (imfile + omfwd) into a source', () => {
  for (const variant of [
    {
      name: 'TCP, octet counting, RFC 5424',
      tls: false,
      framing: 'octet-counted',
      template: 'RSYSLOG_SyslogProtocol23Format',
    },
    {
      name: 'TCP, LF framing, forward format',
      tls: false,
      framing: 'traditional',
      template: 'RSYSLOG_ForwardFormat',
    },
    {
      name: 'TLS, octet counting, RFC 5424',
      tls: true,
      framing: 'octet-counted',
      template: 'RSYSLOG_SyslogProtocol23Format',
    },
  ] as const) {
    it(variant.name, async (t) => {
      const user = `u${senders.length}`;
      const source = await h.createSource(user, { tls: variant.tls, timeZone: 'Europe/Berlin' });
      const client = await connectWampClient(h.router.url, user, tokenOf(user));
      const tail: { at: number; event: LogRealtimeEvent }[] = [];
      await client.session.subscribe(`veche.user.${user}.logs`, (_args, kwargs) => {
        tail.push({ at: Date.now(), event: kwargs as LogRealtimeEvent });
      });
      const rsyslog = forwarding(source, {
        ...(variant.tls ? { tls: h.config.LOGS_TLS_CERT_FILE! } : {}),
        framing: variant.framing,
        template: variant.template,
      });
      senders.push(rsyslog);
      const file = path.join(rsyslog.dir, 'app.log');
      writeFileSync(file, '');
      // imfile starts at the end of a new file only once it saw it: write until lines arrive.
      const lines = Array.from({ length: 50 }, (_, i) => `line ${i} ünïcode [${variant.name}]`);
      await eventually(
        async () => {
          appendFileSync(file, 'warm-up\n');
          return (await events(user, source.sourceId)).events.length > 0;
        },
        { message: `rsyslog connected (${rsyslog.output()})`, timeoutMs: 30_000, intervalMs: 500 },
      );
      const written = Date.now();
      let lastPage: LogEventsPage | undefined;
      appendFileSync(file, lines.map((l) => `${l}\n`).join(''));
      const page = await eventually(
        async () => {
          const p = await events(user, source.sourceId);
          lastPage = p;
          return lines.every((l) => p.events.some((e) => e.message === l)) ? p : undefined;
        },
        {
          message: `the lines in the API (got ${JSON.stringify((lastPage?.events ?? []).slice(0, 3))}; ${rsyslog.output()})`,
          timeoutMs: 30_000,
        },
      );
      const line = page.events.find((e) => e.message === lines[0])!;
      assert.equal(line.fileName, 'app.log');
      assert.equal(line.appName, 'app.log');
      assert.equal(line.senderIp, '127.0.0.1');
      assert.equal(line.severity, 5, 'imfile sends notice');
      assert.equal(line.facility, 16, 'imfile sends local0');
      assert.ok(line.hostname && line.hostname.length > 0);
      assert.ok(Math.abs(Date.parse(line.createdAt) - written) < 60_000, 'the sender’s stamp, in UTC');
      await eventually(
        () =>
          lines.every((l) =>
            tail.some((t) => t.event.type === 'lines' && t.event.events.some((e) => e.message === l)),
          ),
        { message: 'the lines in the live tail' },
      );
      const lastArrival = Math.max(
        ...tail
          .filter((t) => t.event.type === 'lines' && t.event.events.some((e) => lines.includes(e.message)))
          .map((t) => t.at),
      );
      t.diagnostic(` ${variant.name}: file append → live tail in ${lastArrival - written} ms`);
      client.close();
      await rsyslog.stop();
    });
  }
});

/**
 * The development SMTP sink: a real SMTP server (smtp-server) that keeps what it receives in memory
 * and shows it on a small web page and as JSON, so a developer can click the verification link of a
 * local sign-up. With `rules` on (tests, or a developer trying failures) the recipient's local part
 * chooses the reply: `defer…@` 451, `reject…@` 550, `flaky<N>-…@` 451 for the first N tries then
 * accept, `slow<ms>-…@` holds the first reply to DATA that long.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import type { Logger } from '@veche/log';
import { escapeHtml } from '../domain/templates.ts';

export interface SinkMessage {
  id: number;
  receivedAt: string;
  messageId: string | undefined;
  envelopeFrom: string | undefined;
  envelopeTo: string[];
  from: string | undefined;
  to: string | undefined;
  subject: string | undefined;
  text: string;
  html: string;
  headers: Record<string, string>;
  /** Every http(s) URL in the text body, in order: what the developer clicks. */
  links: string[];
}

export interface SinkAttempt {
  at: string;
  address: string;
  outcome: 'accepted' | 'deferred' | 'rejected';
  code: number;
}

/** A DATA reply the sink is holding back (`slow<ms>-` rule). */
export interface SinkHold {
  at: string;
  to: string[];
  messageId: string | undefined;
}

export interface MailSinkOptions {
  host?: string;
  smtpPort: number;
  webPort: number;
  rules?: boolean;
  /** smtp-server's own protocol log on standard output. */
  debug?: boolean;
  /** Oldest messages are forgotten beyond this. */
  keep?: number;
  log: Logger;
}

export interface MailSink {
  start(): Promise<{ smtpPort: number; webPort: number }>;
  stop(): Promise<void>;
  messages(): readonly SinkMessage[];
  attempts(): readonly SinkAttempt[];
  holds(): readonly SinkHold[];
  clear(): void;
}

const smtpError = (code: number, message: string): Error =>
  Object.assign(new Error(message), { responseCode: code });

const linkPattern = /https?:\/\/[^\s<>"')]+/g;

export function createMailSink(options: MailSinkOptions): MailSink {
  const log = options.log.child({ component: 'mail-sink' });
  const host = options.host ?? '127.0.0.1';
  const keep = options.keep ?? 1000;
  let kept: SinkMessage[] = [];
  let attempts: SinkAttempt[] = [];
  let holds: SinkHold[] = [];
  let nextId = 1;
  const triesByAddress = new Map<string, number>();
  const heldOnce = new Set<string>();
  const closedSessions = new Set<string>();

  function ruleFor(address: string): { outcome: SinkAttempt['outcome']; code: number } {
    if (!options.rules) return { outcome: 'accepted', code: 250 };
    const local = address.split('@')[0]?.toLowerCase() ?? '';
    const tries = (triesByAddress.get(address.toLowerCase()) ?? 0) + 1;
    triesByAddress.set(address.toLowerCase(), tries);
    if (local.startsWith('defer')) return { outcome: 'deferred', code: 451 };
    if (local.startsWith('reject')) return { outcome: 'rejected', code: 550 };
    const flaky = /^flaky(\d+)-/.exec(local);
    if (flaky && tries <= Number(flaky[1])) return { outcome: 'deferred', code: 451 };
    return { outcome: 'accepted', code: 250 };
  }

  const smtp = new SMTPServer({
    authOptional: true,
    // A sink on the loopback needs no TLS, and a self-signed certificate would only fail the client.
    disabledCommands: ['STARTTLS'],
    logger: options.debug === true,
    // A reverse DNS lookup per connection only slows the greeting down (seconds, without a resolver).
    disableReverseLookup: true,
    size: 25 * 1024 * 1024,
    onRcptTo(address, _session, callback) {
      const rule = ruleFor(address.address);
      attempts.push({
        at: new Date().toISOString(),
        address: address.address,
        outcome: rule.outcome,
        code: rule.code,
      });
      if (attempts.length > keep * 10) attempts = attempts.slice(-keep * 5);
      if (rule.outcome === 'deferred') return callback(smtpError(451, '4.3.0 Try again later (sink rule)'));
      if (rule.outcome === 'rejected') return callback(smtpError(550, '5.1.1 No such mailbox (sink rule)'));
      callback();
    },
    onClose(session: SMTPServerSession) {
      closedSessions.add(session.id);
      if (closedSessions.size > 10_000) closedSessions.clear();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        void (async () => {
          try {
            const raw = Buffer.concat(chunks);
            const parsed = await simpleParser(raw);
            const to = session.envelope.rcptTo.map((r) => r.address);
            const slow = options.rules
              ? to.map((a) => /^slow(\d+)-/.exec(a.toLowerCase())).find((m) => m !== null)
              : undefined;
            const holdKey = parsed.messageId ?? '';
            if (slow && !heldOnce.has(holdKey)) {
              heldOnce.add(holdKey);
              holds.push({ at: new Date().toISOString(), to, messageId: parsed.messageId });
              await new Promise((resolve) => setTimeout(resolve, Number(slow[1])));
              // The client went away before our reply: it never heard 250, so nothing was delivered.
              if (closedSessions.has(session.id)) return;
            }
            const headers: Record<string, string> = {};
            for (const line of parsed.headerLines)
              headers[line.key] = line.line.slice(line.line.indexOf(':') + 1).trim();
            const text = parsed.text ?? '';
            const from = session.envelope.mailFrom;
            kept.push({
              id: nextId++,
              receivedAt: new Date().toISOString(),
              messageId: parsed.messageId,
              envelopeFrom: from ? from.address : undefined,
              envelopeTo: to,
              from: parsed.from?.text,
              to: Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(', ') : parsed.to?.text,
              subject: parsed.subject,
              text,
              html: typeof parsed.html === 'string' ? parsed.html : '',
              headers,
              links: text.match(linkPattern) ?? [],
            });
            if (kept.length > keep) kept = kept.slice(-keep);
            log.info({ to, subject: parsed.subject }, 'mail received');
            callback(null, `Ok: queued as sink-${nextId - 1}`);
          } catch (error) {
            log.warn({ err: error }, 'could not parse a received mail');
            callback(smtpError(451, '4.6.0 Could not parse the message'));
          }
        })();
      });
    },
  });
  smtp.on('error', (error) => log.warn({ err: error }, 'SMTP sink error'));

  const web: Server = createServer((request, response) => {
    try {
      serve(request, response);
    } catch (error) {
      log.warn({ err: error }, 'sink web page failed');
      response.writeHead(500).end();
    }
  });

  function json(response: ServerResponse, status: number, body: unknown): void {
    response
      .writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
      .end(JSON.stringify(body));
  }

  function serve(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://sink');
    if (request.method === 'DELETE' && url.pathname === '/messages') {
      kept = [];
      attempts = [];
      holds = [];
      return json(response, 200, { cleared: true });
    }
    if (request.method !== 'GET') return json(response, 405, { error: 'method not allowed' });
    if (url.pathname === '/messages.json' || url.pathname === '/messages') return json(response, 200, kept);
    if (url.pathname === '/attempts.json') return json(response, 200, attempts);
    if (url.pathname === '/holds.json') return json(response, 200, holds);
    const htmlMatch = /^\/messages\/(\d+)\/html$/.exec(url.pathname);
    if (htmlMatch) {
      const message = kept.find((m) => m.id === Number(htmlMatch[1]));
      if (!message) return json(response, 404, { error: 'no such message' });
      // The mail's own HTML, shown as the recipient would see it; scripts cannot run (CSP).
      response
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "script-src 'none'",
        })
        .end(message.html);
      return;
    }
    if (url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page());
      return;
    }
    json(response, 404, { error: 'not found' });
  }

  function page(): string {
    const items = [...kept]
      .reverse()
      .map((m) => {
        const body = escapeHtml(m.text).replace(
          /https?:\/\/[^\s<>"')]+/g,
          (link) => `<a href="${link}">${link}</a>`,
        );
        return `<section><h3>${escapeHtml(m.subject ?? '(no subject)')}</h3><p><small>${escapeHtml(m.receivedAt)} · to ${escapeHtml(m.to ?? m.envelopeTo.join(', '))} · <a href="/messages/${m.id}/html">HTML version</a></small></p><pre style="white-space:pre-wrap">${body}</pre></section>`;
      })
      .join('<hr>');
    return `<!doctype html><html><head><meta charset="utf-8"><title>Veche mail sink</title></head><body style="font-family:sans-serif;max-width:800px;margin:0 auto"><h1>Mail sink</h1><p>${kept.length} message(s), newest first. JSON: <a href="/messages.json">/messages.json</a>.</p>${items || '<p>Nothing received yet.</p>'}</body></html>`;
  }

  const listen = (
    server: { listen: (port: number, host: string, cb: () => void) => unknown },
    port: number,
  ) =>
    new Promise<void>((resolve, reject) => {
      const emitter = server as unknown as NodeJS.EventEmitter;
      const onError = (error: Error) => reject(error);
      emitter.once('error', onError);
      server.listen(port, host, () => {
        emitter.off('error', onError);
        resolve();
      });
    });

  return {
    messages: () => kept,
    attempts: () => attempts,
    holds: () => holds,
    clear() {
      kept = [];
      attempts = [];
      holds = [];
    },
    async start() {
      await listen(smtp, options.smtpPort);
      try {
        await listen(web, options.webPort);
      } catch (error) {
        await new Promise<void>((resolve) => smtp.close(() => resolve()));
        throw error;
      }
      const smtpPort = (smtp.server.address() as AddressInfo).port;
      const webPort = (web.address() as AddressInfo).port;
      log.info({ smtpPort, webPort, url: `http://${host}:${webPort}/` }, 'mail sink listening');
      return { smtpPort, webPort };
    },
    async stop() {
      web.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => smtp.close(() => resolve())),
        new Promise<void>((resolve) => web.close(() => resolve())),
      ]);
    },
  };
}

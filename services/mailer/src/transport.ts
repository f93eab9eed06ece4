/**
 * The SMTP side: one nodemailer pooled transport to the relay, TLS where the relay offers STARTTLS
 * (nodemailer's default), DKIM-signed when a key is configured.
 */
import nodemailer from 'nodemailer';
import type { Logger } from '@veche/log';
import type { AttemptResult, SmtpFailure } from './domain/delivery.ts';

export interface OutgoingMail {
  from: string;
  to: { name: string; address: string };
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
}

export interface MailTransport {
  send(mail: OutgoingMail): Promise<AttemptResult>;
  /** Checks the relay answers (and accepts our credentials), for /ready. */
  verify(): Promise<boolean>;
  close(): void;
}

export interface TransportOptions {
  url: string;
  maxConnections: number;
  log: Logger;
  dkim?: { domainName: string; keySelector: string; privateKey: string } | undefined;
  /** How long one SMTP conversation may stall before it counts as a connection failure. */
  socketTimeoutMs?: number;
  /** false accepts a relay's self-signed certificate on STARTTLS (a relay inside the stack). */
  rejectUnauthorized?: boolean;
}

/** The relay's own id for the message, from its reply (`250 2.0.0 Ok: queued as 4BxT1z2`). */
export function relayIdFrom(response: string): string | undefined {
  return /queued as\s+<?([^\s>]+)>?/i.exec(response)?.[1] ?? /\bid=([^\s]+)/i.exec(response)?.[1];
}

export function createMailTransport(options: TransportOptions): MailTransport {
  const log = options.log.child({ component: 'smtp' });
  const transport = nodemailer.createTransport({
    pool: true,
    url: options.url,
    maxConnections: options.maxConnections,
    // Reconnecting every 100 messages costs a handshake for nothing on a relay we own.
    maxMessages: 10_000,
    connectionTimeout: options.socketTimeoutMs ?? 30_000,
    greetingTimeout: options.socketTimeoutMs ?? 30_000,
    socketTimeout: options.socketTimeoutMs ?? 120_000,
    tls: { rejectUnauthorized: options.rejectUnauthorized ?? true },
    ...(options.dkim ? { dkim: options.dkim } : {}),
  });
  return {
    async send(mail) {
      try {
        const info = await transport.sendMail({
          from: mail.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          messageId: mail.messageId,
          // RFC 3834: vacation responders and the like must not answer machine-sent mail.
          headers: { 'Auto-Submitted': 'auto-generated', ...mail.headers },
        });
        const response = typeof info.response === 'string' ? info.response : '';
        return { ok: true, relayMessageId: relayIdFrom(response) ?? info.messageId, response };
      } catch (error) {
        const e = (error ?? {}) as Partial<SmtpFailure> & { message?: string };
        const failure: SmtpFailure = { message: typeof e.message === 'string' ? e.message : String(error) };
        if (typeof e.code === 'string') failure.code = e.code;
        if (typeof e.responseCode === 'number') failure.responseCode = e.responseCode;
        if (typeof e.command === 'string') failure.command = e.command;
        if (typeof e.response === 'string') failure.response = e.response;
        return { ok: false, failure };
      }
    },
    async verify() {
      try {
        await transport.verify();
        return true;
      } catch (error) {
        log.warn({ err: error }, 'the SMTP relay does not answer');
        return false;
      }
    },
    close() {
      transport.close();
    },
  };
}

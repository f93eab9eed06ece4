/**
 * Structured logging: pino, one child logger per component, `service` and `correlationId` on every
 * line. JSON lines by default (production, and the local fleet, which renders them for people);
 * `pretty: true` renders in-process for a service run by hand.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

interface LogContext {
  correlationId: string;
}

const context = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `correlationId` attached to every log line written inside it, across awaits. */
export function withCorrelationId<T>(correlationId: string, fn: () => T): T {
  return context.run({ correlationId }, fn);
}

export function currentCorrelationId(): string | undefined {
  return context.getStore()?.correlationId;
}

/** Paths that never reach a log line: credentials, tokens and personal secrets. */
export const redactedPaths = [
  'password',
  '*.password',
  'newPassword',
  '*.newPassword',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'refreshToken',
  '*.refreshToken',
  'ticket',
  '*.ticket',
  'secret',
  '*.secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
];

export interface CreateLoggerOptions {
  service: string;
  level?: string;
  pretty?: boolean;
  /** Where lines go; standard output by default. Tests pass a stream to read them back. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    mixin: () => {
      const store = context.getStore();
      return store ? { correlationId: store.correlationId } : {};
    },
  };
  if (options.destination) return pino(config, options.destination);
  if (options.pretty) {
    return pino({
      ...config,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } },
    });
  }
  return pino(config);
}

/** A component's logger: the parent's bindings plus `component`. */
export function componentLogger(
  parent: Logger,
  component: string,
  bindings: Record<string, unknown> = {},
): Logger {
  return parent.child({ component, ...bindings });
}

export {
  currentTraceparent,
  failSpan,
  inSpan,
  seededTraceId,
  setTracingEnabled,
  SpanKind,
  startSpan,
  traceIdOf,
  traceIdOfCarrier,
  traceparentOf,
  withSpanContext,
  type Span,
  type SpanOptions,
} from './tracing.ts';

/**
 * Traces (OpenTelemetry API only: the service kit installs the SDK and its exporter when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set; without it every call here is a no-op). The trace id of a
 * request is its correlation id: a trace that starts here takes its id from the correlation id the
 * request already carries (nginx's 32-hex request id, or a UUID without its dashes), so the id in the
 * logs finds the trace and the trace finds the logs. Context crosses processes as W3C `traceparent`:
 * in HTTP headers, in WAMP call metadata, in event metadata and in RabbitMQ headers.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';

export { SpanKind } from '@opentelemetry/api';
export type { Span } from '@opentelemetry/api';

const tracer = () => trace.getTracer('veche');

/**
 * Set by the service kit when it installs the SDK. Off, the helpers below return at once (no span, no
 * context switch): the WAMP call path and the event store's appends cost what they did before.
 */
let enabled = false;
export function setTracingEnabled(on: boolean): void {
  enabled = on;
}
const noSpan: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** The trace id a new root span should take (read by the kit's id generator). */
const seed = new AsyncLocalStorage<string>();

export function seededTraceId(): string | undefined {
  return seed.getStore();
}

/** A correlation id as a trace id (32 lowercase hex digits), or undefined when it is not one. */
export function traceIdOf(correlationId: string | undefined): string | undefined {
  if (!correlationId) return undefined;
  const hex = correlationId.replace(/-/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(hex) && !/^0+$/.test(hex) ? hex : undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Where the caller's context travelled (`{ traceparent }`): the span continues it. */
  carrier?: Record<string, unknown> | undefined;
  /** With no parent, the new trace takes this correlation id as its id. */
  correlationId?: string | undefined;
  /** Other contexts the span belongs to (`{ traceparent }` each): a batch's other messages. */
  links?: readonly (Record<string, unknown> | undefined)[];
}

/** The span context a carrier's traceparent names, or undefined. */
function linkOf(carrier: Record<string, unknown> | undefined): Link | undefined {
  const traceparent = carrier?.['traceparent'];
  if (typeof traceparent !== 'string') return undefined;
  const spanContext = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, { traceparent }));
  return spanContext && trace.isSpanContextValid(spanContext) ? { context: spanContext } : undefined;
}

/** The trace id a carrier's traceparent names (W3C: version-traceid-spanid-flags), or undefined. */
export function traceIdOfCarrier(carrier: Record<string, unknown> | undefined): string | undefined {
  const traceparent = carrier?.['traceparent'];
  if (typeof traceparent !== 'string') return undefined;
  return /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent.trim())?.[1];
}

/** A context as a W3C traceparent, or undefined (no SDK, or no span in it). */
export function traceparentOf(spanContext: Context): string | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(spanContext, carrier);
  return carrier['traceparent'];
}

/** The context a span should start in: the carrier's when it holds one, else the active one. */
function parentOf(options: SpanOptions): Context {
  const active = context.active();
  const traceparent = options.carrier?.['traceparent'];
  if (typeof traceparent !== 'string') return active;
  return propagation.extract(active, { traceparent });
}

/** Starts a span (not active yet); with no parent, its trace id is the correlation id. */
export function startSpan(name: string, options: SpanOptions = {}): { span: Span; context: Context } {
  if (!enabled) return { span: noSpan, context: context.active() };
  const parent = parentOf(options);
  const links = (options.links ?? []).flatMap((carrier) => {
    const link = linkOf(carrier);
    return link ? [link] : [];
  });
  const start = () =>
    tracer().startSpan(
      name,
      {
        kind: options.kind ?? SpanKind.INTERNAL,
        ...(options.attributes ? { attributes: options.attributes } : {}),
        ...(links.length > 0 ? { links } : {}),
      },
      parent,
    );
  const seeded = trace.getSpan(parent) ? undefined : traceIdOf(options.correlationId);
  const span = seeded ? seed.run(seeded, start) : start();
  return { span, context: trace.setSpan(parent, span) };
}

/** Marks a span failed by `error` (kept short: the log line has the details). */
export function failSpan(span: Span, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: typeof code === 'string' ? code : error instanceof Error ? error.name : 'error',
  });
}

/** Runs `fn` inside a new span, active across its awaits; the span ends when `fn` settles. */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  if (!enabled) return fn(noSpan);
  const { span, context: spanContext } = startSpan(name, options);
  try {
    return await context.with(spanContext, () => fn(span));
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Runs `fn` with `spanContext` active (a span started earlier, e.g. by an HTTP hook). */
export function withSpanContext<T>(spanContext: Context, fn: () => T): T {
  return context.with(spanContext, fn);
}

/** The active context as a W3C traceparent, or undefined (no SDK, or no span). */
export function currentTraceparent(): string | undefined {
  return traceparentOf(context.active());
}

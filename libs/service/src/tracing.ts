/**
 * OpenTelemetry's SDK for a service process: with OTEL_EXPORTER_OTLP_ENDPOINT set, spans made through
 * @veche/log's helpers (HTTP requests, WAMP calls and procedures, event appends, RabbitMQ deliveries)
 * are batched to <endpoint>/v1/traces as OTLP/HTTP JSON, with `service.name` set; W3C trace context
 * is the propagator, AsyncLocalStorage carries the active span across awaits. A new trace takes the
 * request's correlation id as its id (the id generator reads it from @veche/log), so logs and traces
 * share one id. Which traces are kept follows OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (`samplerOf`,
 * checked with the rest of the configuration before the service starts).
 */
import { randomBytes } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type IdGenerator,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import { ConfigError } from '@veche/config';
import { seededTraceId, setTracingEnabled, type Logger } from '@veche/log';

const correlatedIds: IdGenerator = {
  generateTraceId: () => seededTraceId() ?? randomBytes(16).toString('hex'),
  generateSpanId: () => randomBytes(8).toString('hex'),
};

/** The sampling variables, as @veche/config's runtimeEnv reads them. */
export interface SamplingConfig {
  OTEL_TRACES_SAMPLER?: string | undefined;
  OTEL_TRACES_SAMPLER_ARG?: number | undefined;
}

const samplerNames = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/**
 * The sampler OTEL_TRACES_SAMPLER names (default parentbased_always_on: every trace). The ratio ones
 * decide on the trace id, so every service keeps or drops the same correlation id's trace; a parent's
 * decision travels in the traceparent's flags. Throws ConfigError for a name it does not know, a ratio
 * outside 0..1, or a ratio given to a sampler that takes none (a setting that would silently do nothing).
 */
export function samplerOf(config: SamplingConfig): Sampler {
  const name = config.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on';
  const ratio = config.OTEL_TRACES_SAMPLER_ARG;
  if (!samplerNames.includes(name))
    throw new ConfigError([
      {
        variable: 'OTEL_TRACES_SAMPLER',
        message: `must be one of ${samplerNames.join(', ')} (got "${name}")`,
      },
    ]);
  const takesRatio = name.endsWith('traceidratio');
  if (ratio !== undefined && !takesRatio)
    throw new ConfigError([
      {
        variable: 'OTEL_TRACES_SAMPLER_ARG',
        message: `is a ratio for the traceidratio samplers; OTEL_TRACES_SAMPLER is ${name}, which takes none`,
      },
    ]);
  if (ratio !== undefined && !(ratio >= 0 && ratio <= 1))
    throw new ConfigError([
      { variable: 'OTEL_TRACES_SAMPLER_ARG', message: `must be a ratio from 0 to 1 (got ${ratio})` },
    ]);
  const root = name.endsWith('always_off')
    ? new AlwaysOffSampler()
    : takesRatio
      ? new TraceIdRatioBasedSampler(ratio ?? 1)
      : new AlwaysOnSampler();
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

export interface Tracing {
  /** Sends what is buffered, then stops. */
  shutdown(): Promise<void>;
}

/** Installs the SDK when `endpoint` is given; without it, tracing stays the API's no-op. */
export function startTracing(options: {
  service: string;
  endpoint?: string | undefined;
  log: Logger;
  sampling?: SamplingConfig;
}): Tracing {
  if (!options.endpoint) return { shutdown: async () => {} };
  const url = `${options.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.service, 'service.namespace': 'veche' }),
    idGenerator: correlatedIds,
    sampler: samplerOf(options.sampling ?? {}),
    spanProcessors: [
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }), scheduledDelayMillis: 1000 }),
    ],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  setTracingEnabled(true);
  options.log.info(
    {
      url,
      sampler: options.sampling?.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on',
      ratio: options.sampling?.OTEL_TRACES_SAMPLER_ARG,
    },
    'sending traces',
  );
  return {
    shutdown: async () => {
      setTracingEnabled(false);
      await provider
        .shutdown()
        .catch((error: unknown) => options.log.warn({ err: error }, 'traces not flushed'));
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/**
 * What every service's HTTP server reports about itself, registered by the kit before any route: the
 * request id on every response (the correlation id of the request's log lines), GET /metrics (the
 * process's Prometheus metrics, @veche/metrics), and each answered request counted by method, route
 * pattern and status, with its duration. /metrics is served at the root, outside any probe prefix:
 * nginx proxies only /api/…, so it is reachable inside the stack alone. Probes and /metrics itself
 * are not counted (they would drown the requests people make).
 */
import type { FastifyRequest } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { failSpan, SpanKind, startSpan, withSpanContext } from '@veche/log';
import { exposition, recordHttpRequest } from '@veche/metrics';

const unrouted = '(unmatched)';
const quiet = /\/(health|ready|metrics)$/;

/** Each request's server span (traces): started on arrival, active in its handler, ended on reply. */
const spans = new WeakMap<FastifyRequest, ReturnType<typeof startSpan>>();

export const observability = fastifyPlugin(
  async (app) => {
    app.addHook('onRequest', async (request, reply) => {
      reply.header('x-request-id', request.id);
      const route = request.routeOptions.url ?? unrouted;
      if (quiet.test(route)) return;
      // Continues the caller's trace (traceparent), else starts one whose id is the request id.
      const traceparent = request.headers['traceparent'];
      spans.set(
        request,
        startSpan(`${request.method} ${route}`, {
          kind: SpanKind.SERVER,
          carrier: typeof traceparent === 'string' ? { traceparent } : undefined,
          correlationId: request.id,
          attributes: { 'http.request.method': request.method, 'http.route': route },
        }),
      );
    });
    // The handler runs inside the span (the hook before it, callback style: what the handler awaits
    // keeps the context), so the WAMP calls it makes are the span's children.
    app.addHook('preHandler', (request, _reply, done) => {
      const traced = spans.get(request);
      if (traced) withSpanContext(traced.context, done);
      else done();
    });
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? unrouted;
      const traced = spans.get(request);
      if (traced) {
        traced.span.setAttribute('http.response.status_code', reply.statusCode);
        if (reply.statusCode >= 500) failSpan(traced.span, { code: String(reply.statusCode) });
        traced.span.end();
        spans.delete(request);
      }
      if (quiet.test(route)) return;
      recordHttpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    });
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      const { contentType, body } = await exposition();
      return reply.type(contentType).send(body);
    });
  },
  { name: 'veche-observability', fastify: '5.x' },
);

/**
 * The mailer's only HTTP surface: GET /health (the process is up) and GET /ready (PostgreSQL and
 * RabbitMQ answer), for the local fleet and the stack's health checks.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthServer {
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
}

export function createHealthServer(ready: () => Promise<Record<string, boolean>>): HealthServer {
  const server: Server = createServer((request, response) => {
    const send = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') return send(405, { error: { code: 'validation', message: 'GET only' } });
    if (path === '/health') return send(200, { status: 'ok' });
    if (path === '/ready') {
      ready().then(
        (checks) => send(Object.values(checks).every(Boolean) ? 200 : 503, { checks }),
        () => send(503, { error: { code: 'unavailable', message: 'readiness check failed' } }),
      );
      return;
    }
    send(404, { error: { code: 'not_found', message: 'No such path' } });
  });
  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

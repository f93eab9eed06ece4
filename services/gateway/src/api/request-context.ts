/** What the account commands learn of an HTTP request: address, agent, correlation id, device cookie. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../accounts/index.ts';

/** The device-token cookie (see domain/tokens.ts): sent only to the log-in routes, never to scripts. */
export const deviceCookie = {
  name: 'veche_device',
  path: '/api/auth',
  /** A year: a device stays known as long as it keeps coming back. */
  maxAgeSeconds: 365 * 86_400,
} as const;

/** The request's context; `secureCookies` when the public URL is https. */
export const requestContextOf =
  (secureCookies: boolean) =>
  (request: FastifyRequest, reply: FastifyReply): RequestContext => ({
    ip: request.ip,
    userAgent: String(request.headers['user-agent'] ?? 'unknown').slice(0, 200),
    correlationId: request.id,
    deviceToken: request.cookies[deviceCookie.name],
    issueDeviceToken: (token) => {
      reply.setCookie(deviceCookie.name, token, {
        path: deviceCookie.path,
        maxAge: deviceCookie.maxAgeSeconds,
        httpOnly: true,
        sameSite: 'strict',
        secure: secureCookies,
      });
    },
  });

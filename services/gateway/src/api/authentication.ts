/**
 * Who is calling a route, checked before its body is read: the bearer access token for `user` and
 * `admin` routes (admins only on the latter), then the route's own rate limit, per user or address.
 */
import type { ApiRoute } from '@veche/contracts';
import { forbidden, unauthorized } from '@veche/errors';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../accounts/index.ts';
import type { RateLimiter } from '../rate-limit.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const bearer = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

export interface RouteAuthentication {
  authenticate: (accessToken: string) => Promise<Principal>;
  limiter: RateLimiter;
}

/** The `onRequest` hook of `route`: sets `request.principal`, or refuses the request. */
export const authenticateRoute =
  (route: ApiRoute, { authenticate, limiter }: RouteAuthentication) =>
  async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (route.auth === 'public') {
      request.principal = null;
    } else {
      const match = typeof header === 'string' ? bearer.exec(header) : null;
      if (!match?.[1])
        throw unauthorized('Sign in: send Authorization: Bearer <accessToken>', {
          details: { reason: 'missing_token' },
        });
      request.principal = await authenticate(match[1]);
      if (route.auth === 'admin' && request.principal.role !== 'admin')
        throw forbidden('Administrators only');
    }
    if (route.rateLimit) {
      const who = route.rateLimit.key === 'user' && request.principal ? request.principal.userId : request.ip;
      await limiter.hit(
        `route:${route.method} ${route.url}:${who}`,
        route.rateLimit.max,
        Math.ceil(route.rateLimit.timeWindowMs / 1000),
      );
    }
  };

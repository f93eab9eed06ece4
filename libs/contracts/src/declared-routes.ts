/**
 * Every `/api` route the contracts declare, whatever module declared it: the gateway serves exactly
 * these, and the fuzzer generates requests for exactly these. A route array exported by any module
 * of this package is found here without a list to keep up to date.
 */
import * as contracts from './index.ts';
import type { ApiRoute } from './routes.ts';

const isApiRoute = (value: unknown): value is ApiRoute =>
  typeof value === 'object' &&
  value !== null &&
  ((value as ApiRoute).kind === 'rpc' || (value as ApiRoute).kind === 'stream') &&
  typeof (value as ApiRoute).url === 'string' &&
  typeof (value as ApiRoute).method === 'string';

export function declaredApiRoutes(): ApiRoute[] {
  const routes: ApiRoute[] = [];
  for (const value of Object.values(contracts)) {
    if (Array.isArray(value) && value.length > 0 && value.every(isApiRoute)) routes.push(...value);
  }
  return routes;
}

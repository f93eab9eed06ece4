/** Where each part of a route's merged input goes in the HTTP request (pure, so it is unit-tested). */

/** Splits a route's merged input into path, query (GET, DELETE) and body (the rest) as the gateway expects. */
export function place(
  method: string,
  url: string,
  input: Record<string, unknown>,
): {
  path: string;
  query: Record<string, string | number | boolean | undefined>;
  body: Record<string, unknown> | undefined;
} {
  const rest: Record<string, unknown> = { ...input };
  const path = url.replace(/:(\w+)/g, (_whole, name: string) => {
    const value = rest[name];
    delete rest[name];
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new TypeError(`missing path parameter ${name}`);
    if (value === '') throw new TypeError(`empty path parameter ${name}`);
    return encodeURIComponent(value);
  });
  if (method === 'GET' || method === 'DELETE') {
    return { path, query: rest as Record<string, string | number | boolean | undefined>, body: undefined };
  }
  return { path, query: {}, body: rest };
}

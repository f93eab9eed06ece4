/**
 * `/pubsub` frames (seed 002's JSON: `status`, `events`, `publisher`, `timestamp`): well-formed ones
 * with odd values (status codes outside 1–10, operations other than 9 and 10, forged publishers,
 * timestamps of every type), JSON that is not a frame, text that is not JSON, binary and large frames;
 * and what a server may send back.
 */
import fc from 'fast-check';

export type PubsubFrame = { kind: 'text'; text: string } | { kind: 'binary'; bytes: Uint8Array };

const ids = (own: string, other: string) =>
  fc.oneof(
    fc.constantFrom(own, other, '*', '', '1000', '10*', 'a.b', '../x'),
    fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
    fc.string({ maxLength: 12 }),
  );

/** One frame from a client of `own` that knows of `other`. */
export function pubsubFrameArbitrary(own: string, other: string): fc.Arbitrary<PubsubFrame> {
  const json = fc.jsonValue({ maxDepth: 2 });
  const status = fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 10 }), weight: 4 },
    {
      arbitrary: fc.oneof(fc.integer({ min: -3, max: 20 }), fc.constantFrom(1.5, '1', null, true), json),
      weight: 1,
    },
  );
  const operation = fc.oneof(
    { arbitrary: fc.constantFrom(9, 10), weight: 4 },
    { arbitrary: fc.oneof(fc.integer({ min: -3, max: 20 }), json), weight: 1 },
  );
  const frame = fc.record(
    {
      status,
      events: fc.oneof(
        { arbitrary: fc.dictionary(ids(own, other), operation, { maxKeys: 4 }), weight: 4 },
        { arbitrary: json, weight: 1 },
      ),
      publisher: fc.oneof(fc.constantFrom(own, other), json),
      timestamp: fc.oneof(fc.constantFrom('1627128694.693686', 1627128694.693686, '', 'x'.repeat(200)), json),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    {
      arbitrary: frame.map((value): PubsubFrame => ({ kind: 'text', text: JSON.stringify(value) })),
      weight: 12,
    },
    {
      arbitrary: json.map((value): PubsubFrame => ({ kind: 'text', text: JSON.stringify(value) ?? 'null' })),
      weight: 2,
    },
    {
      arbitrary: fc
        .oneof(
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.constantFrom('{', '', '{"status":1', '{"events":{"a":9}}}'),
        )
        .map((text): PubsubFrame => ({ kind: 'text', text })),
      weight: 2,
    },
    {
      arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes): PubsubFrame => ({ kind: 'binary', bytes })),
      weight: 1,
    },
    {
      arbitrary: fc.integer({ min: 10_000, max: 300_000 }).map((n): PubsubFrame => ({
        kind: 'text',
        text: JSON.stringify({ status: 1, timestamp: 'x'.repeat(n) }),
      })),
      weight: 1,
    },
  );
}

/** Why `text` is not a frame a `/pubsub` server may send, or undefined when it is. */
export function pubsubAnswerProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const frame = value as Record<string, unknown>;
  if ('error' in frame) {
    const error = frame['error'] as Record<string, unknown> | null;
    if (typeof error !== 'object' || error === null) return 'an error that is not an object';
    if (typeof error['code'] !== 'string' || typeof error['message'] !== 'string')
      return 'an error without code and message';
    return undefined;
  }
  if (
    !Number.isInteger(frame['status']) ||
    (frame['status'] as number) < 1 ||
    (frame['status'] as number) > 8
  )
    return `status ${JSON.stringify(frame['status'])}`;
  if (typeof frame['publisher'] !== 'string' || frame['publisher'] === '') return 'no publisher';
  return undefined;
}

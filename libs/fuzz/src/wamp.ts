/**
 * WAMP frames for fuzzing a router: well-formed messages of every type with fields of the wrong
 * type, out-of-order messages (a HELLO after WELCOME, a YIELD nobody asked for, router-to-client
 * types), URIs aimed at other users' topics and at wildcards, arbitrary JSON, text that is not JSON,
 * binary frames and frames over the size limit. And the oracle for what a router may answer a user.
 */
import { invokePolicies, wampMessage } from '@veche/wamp-router/protocol';
import fc from 'fast-check';

/** WAMP's message codes, as the router defines them. */
export const wampCodes = wampMessage;

/** What a router may send a client. */
export const routerToClient: ReadonlySet<number> = new Set([
  wampMessage.WELCOME,
  wampMessage.ABORT,
  wampMessage.CHALLENGE,
  wampMessage.GOODBYE,
  wampMessage.ERROR,
  wampMessage.PUBLISHED,
  wampMessage.SUBSCRIBED,
  wampMessage.UNSUBSCRIBED,
  wampMessage.EVENT,
  wampMessage.RESULT,
  wampMessage.REGISTERED,
  wampMessage.UNREGISTERED,
  wampMessage.INVOCATION,
  wampMessage.INTERRUPT,
]);

const isId = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;
const isDict = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isUri = (value: unknown): boolean => typeof value === 'string' && value.length > 0;
/** The requests a router answers with an ERROR (WAMP basic and advanced profile). */
const erroredRequests: ReadonlySet<unknown> = new Set([
  wampMessage.PUBLISH,
  wampMessage.SUBSCRIBE,
  wampMessage.UNSUBSCRIBE,
  wampMessage.CALL,
  wampMessage.REGISTER,
  wampMessage.UNREGISTER,
]);

/** Why `message` is not something a router may send a client, or undefined when it is. */
export function routerMessageProblem(message: unknown): string | undefined {
  if (!Array.isArray(message) || message.length === 0) return 'not a WAMP message array';
  const m: unknown[] = message;
  if (!routerToClient.has(m[0] as number))
    return `message type ${JSON.stringify(m[0])} is not router-to-client`;
  switch (m[0]) {
    case wampCodes.ERROR:
      if (!erroredRequests.has(m[1])) return `an ERROR for request type ${JSON.stringify(m[1])}`;
      return isId(m[2]) && isDict(m[3]) && isUri(m[4]) ? undefined : 'a malformed ERROR';
    case wampCodes.ABORT:
    case wampCodes.GOODBYE:
      return isDict(m[1]) && isUri(m[2]) ? undefined : 'a malformed ABORT or GOODBYE';
    case wampCodes.SUBSCRIBED:
    case wampCodes.REGISTERED:
    case wampCodes.PUBLISHED:
      return isId(m[1]) && isId(m[2]) ? undefined : 'a malformed acknowledgement';
    default:
      return undefined;
  }
}

export type WampFrame =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'oversize'; bytes: number };

const anyJson = fc.jsonValue({ maxDepth: 2 });

/** URIs: the attacker's own topics, another user's, wildcards, malformed and hostile ones. */
export function uriArbitrary(ownId: string, otherId: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(
      `veche.user.${ownId}.rooms`,
      `veche.user.${ownId}.presence`,
      `veche.user.${otherId}.rooms`,
      `veche.user.${otherId}.presence`,
      `veche.user.${ownId}`,
      `veche.user.${ownId}.`,
      `veche.user.${ownId}..rooms`,
      `veche.user.${ownId}.rooms.${otherId}`,
      `veche.user.${ownId}0.rooms`,
      'veche.user',
      'veche.user.',
      'veche.user..rooms',
      'veche.user.*.rooms',
      'veche.user.#',
      'veche.chat.postMessage',
      'veche.gateway.authenticate',
      'wamp.session.kill_by_authid',
      'wamp.session.list',
      'wamp.session.on_join',
      '',
      '.',
      ' ',
      'a'.repeat(300),
    ),
    fc.string({ maxLength: 40 }),
    fc.stringMatching(/^[a-z]{1,6}(\.[a-z0-9*#]{0,6}){0,4}$/),
    anyJson,
  );
}

const requestId = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 2 ** 53 }), weight: 6 },
  { arbitrary: fc.constantFrom(0, -1, 2 ** 53 + 2, 1.5, '1', null), weight: 1 },
);

const options = fc.oneof(
  { arbitrary: fc.constant({}), weight: 4 },
  {
    arbitrary: fc.record(
      {
        match: fc.constantFrom('exact', 'prefix', 'wildcard', 'nonsense', 7),
        acknowledge: fc.oneof(fc.boolean(), fc.constant('yes')),
        exclude_me: fc.boolean(),
        disclose_me: fc.boolean(),
        eligible: fc.array(fc.integer(), { maxLength: 2 }),
        receive_progress: fc.boolean(),
        timeout: fc.integer({ min: -1, max: 1000 }),
        invoke: fc.constantFrom(...invokePolicies, 'nope'),
        retain: fc.boolean(),
        filter: anyJson,
      },
      { requiredKeys: [] },
    ),
    weight: 3,
  },
  { arbitrary: anyJson, weight: 1 },
);

/** Options of the types WAMP gives them (the values may still be unsupported). */
const wellTypedOptions = fc.record(
  {
    match: fc.constantFrom('exact', 'prefix', 'wildcard'),
    acknowledge: fc.boolean(),
    exclude_me: fc.boolean(),
    disclose_me: fc.boolean(),
    receive_progress: fc.boolean(),
    timeout: fc.nat({ max: 1000 }),
    invoke: fc.constantFrom(...invokePolicies),
  },
  { requiredKeys: [] },
);

const argsList = fc.oneof(fc.array(anyJson, { maxLength: 3 }), anyJson);
const kwargs = fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 3 }), anyJson);

/**
 * A message shaped as WAMP, of any type. Well typed: a request id, an options object, a string URI,
 * a list and an object (what a router must judge by meaning: out of order, not allowed); otherwise
 * any field may have any type.
 */
export function wampMessageArbitrary(
  ownId: string,
  otherId: string,
  wellTyped = false,
): fc.Arbitrary<unknown[]> {
  const uri = wellTyped
    ? uriArbitrary(ownId, otherId).filter((u) => typeof u === 'string' && u.length > 0 && u.length <= 255)
    : uriArbitrary(ownId, otherId);
  const id = wellTyped ? fc.integer({ min: 1, max: 2 ** 40 }) : requestId;
  const opts = wellTyped ? wellTypedOptions : options;
  const list = wellTyped ? fc.array(anyJson, { maxLength: 3 }) : argsList;
  const dict = wellTyped ? fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 3 }) : kwargs;
  const hello = fc.tuple(
    fc.constant(1),
    wellTyped ? fc.constant('veche') : fc.oneof(fc.constant('veche'), fc.string({ maxLength: 8 }), anyJson),
    fc.record({
      authmethods: fc.constant(['ticket']),
      authid: fc.constantFrom(ownId, otherId, `service:${ownId}`),
      roles: fc.constant({ subscriber: {}, publisher: {}, caller: {}, callee: {} }),
    }),
  );
  const generic = fc
    .tuple(
      fc.oneof(
        { arbitrary: fc.constantFrom(...Object.values(wampCodes)), weight: 8 },
        { arbitrary: fc.integer({ min: -5, max: 1000 }), weight: 1 },
        { arbitrary: anyJson, weight: 1 },
      ),
      requestId,
      options,
      uri,
      argsList,
      kwargs,
      fc.nat({ max: 6 }),
    )
    .map(([code, rid, o, target, args, kw, length]) => [code, rid, o, target, args, kw].slice(0, length));
  const typed = fc.oneof(
    { arbitrary: fc.tuple(fc.constant(wampCodes.SUBSCRIBE), id, opts, uri), weight: 4 },
    { arbitrary: fc.tuple(fc.constant(wampCodes.PUBLISH), id, opts, uri, list, dict), weight: 3 },
    { arbitrary: fc.tuple(fc.constant(wampCodes.CALL), id, opts, uri, list, dict), weight: 3 },
    { arbitrary: fc.tuple(fc.constant(wampCodes.REGISTER), id, opts, uri), weight: 2 },
    {
      arbitrary: fc.tuple(
        fc.constant(wampCodes.UNSUBSCRIBE),
        id,
        wellTyped ? fc.nat() : fc.oneof(fc.nat(), anyJson),
      ),
      weight: 1,
    },
    {
      arbitrary: fc.tuple(
        fc.constant(wampCodes.UNREGISTER),
        id,
        wellTyped ? fc.nat() : fc.oneof(fc.nat(), anyJson),
      ),
      weight: 1,
    },
    { arbitrary: fc.tuple(fc.constant(wampCodes.YIELD), id, opts, list, dict), weight: 1 },
    {
      arbitrary: fc.tuple(
        fc.constant(wampCodes.ERROR),
        fc.constantFrom(wampCodes.CALL, wampCodes.INVOCATION, wampCodes.SUBSCRIBE, 999),
        id,
        opts,
        uri,
      ),
      weight: 1,
    },
    { arbitrary: fc.tuple(fc.constant(wampCodes.CANCEL), id, opts), weight: 1 },
  ) as fc.Arbitrary<unknown[]>;
  if (wellTyped) return typed;
  const authenticate = fc.tuple(fc.constant(wampCodes.AUTHENTICATE), anyJson, options) as fc.Arbitrary<
    unknown[]
  >;
  return fc.oneof(
    { arbitrary: typed, weight: 6 },
    { arbitrary: authenticate, weight: 1 },
    { arbitrary: generic, weight: 3 },
    { arbitrary: hello, weight: 1 },
  );
}

/**
 * One frame on the wire: mostly well-typed WAMP, sometimes wrongly typed, sometimes anything at all;
 * or, with `wellTypedOnly`, only messages a router must judge by their meaning (never a HELLO).
 */
export function wampFrameArbitrary(
  ownId: string,
  otherId: string,
  maxPayloadBytes: number,
  { wellTypedOnly = false }: { wellTypedOnly?: boolean } = {},
): fc.Arbitrary<WampFrame> {
  const json = (value: unknown): WampFrame => ({ kind: 'json', value });
  if (wellTypedOnly) return wampMessageArbitrary(ownId, otherId, true).map(json);
  return fc.oneof(
    { arbitrary: wampMessageArbitrary(ownId, otherId, true).map(json), weight: 30 },
    { arbitrary: wampMessageArbitrary(ownId, otherId).map(json), weight: 16 },
    { arbitrary: anyJson.map(json), weight: 1 },
    {
      arbitrary: fc
        .oneof(
          fc.string({ unit: 'binary', maxLength: 60 }),
          fc.constantFrom('[1,', '[', '', 'null', '[1e999]', '[32,1,{},"a"]]'),
        )
        .map((text): WampFrame => ({ kind: 'text', text })),
      weight: 1,
    },
    {
      arbitrary: fc.uint8Array({ maxLength: 60 }).map((bytes): WampFrame => ({ kind: 'binary', bytes })),
      weight: 1,
    },
    {
      arbitrary: fc
        .integer({ min: maxPayloadBytes + 1, max: maxPayloadBytes * 2 })
        .map((bytes): WampFrame => ({ kind: 'oversize', bytes })),
      weight: 1,
    },
  );
}

/** The frame's text, or bytes for a binary frame. */
export function wampFrameData(frame: WampFrame): { data: string | Uint8Array; binary: boolean } {
  switch (frame.kind) {
    case 'json':
      return { data: JSON.stringify(frame.value) ?? 'null', binary: false };
    case 'text':
      return { data: frame.text, binary: false };
    case 'binary':
      return { data: frame.bytes, binary: true };
    case 'oversize':
      return {
        data: JSON.stringify([wampCodes.PUBLISH, 1, {}, 'veche.x', ['x'.repeat(frame.bytes)]]),
        binary: false,
      };
  }
}

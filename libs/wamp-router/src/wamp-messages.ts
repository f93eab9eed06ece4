/**
 * WAMP message codes and a shape check for what clients send. fox-wamp reads message fields without
 * checking them (a REGISTER without options throws, a subscribe filter of the wrong type throws later
 * while delivering another session's event), so every message is checked here first. No runtime
 * import: `@veche/wamp-router/protocol` (this file) is what clients and the fuzzers take the codes from.
 */

export const wampMessage = {
  HELLO: 1,
  WELCOME: 2,
  ABORT: 3,
  CHALLENGE: 4,
  AUTHENTICATE: 5,
  GOODBYE: 6,
  ERROR: 8,
  PUBLISH: 16,
  PUBLISHED: 17,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  UNSUBSCRIBE: 34,
  UNSUBSCRIBED: 35,
  EVENT: 36,
  CALL: 48,
  CANCEL: 49,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  UNREGISTER: 66,
  UNREGISTERED: 67,
  INVOCATION: 68,
  INTERRUPT: 69,
  YIELD: 70,
} as const;

/** The shared-registration policies (`invoke` of REGISTER), as Crossbar names them. */
export const invokePolicies = ['single', 'roundrobin', 'random', 'first', 'last'] as const;
export type InvokePolicy = (typeof invokePolicies)[number];

export const isInvokePolicy = (value: unknown): value is InvokePolicy =>
  (invokePolicies as readonly unknown[]).includes(value);

/** The only WebSocket subprotocol the router speaks. */
export const subprotocol = 'wamp.2.json';

/** The WebSocket close codes the router ends connections with. */
export const closeCodes = {
  protocolError: 1002,
  goingAway: 1001,
  normal: 1000,
  policyViolation: 1008,
} as const;

const isId = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;
const isDict = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isUri = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= 255;
const isOptionalList = (value: unknown): boolean => value === undefined || Array.isArray(value);
const isOptionalDict = (value: unknown): boolean => value === undefined || isDict(value);

/** Returns why `message` is not a well-formed client-to-router WAMP message, or undefined when it is. */
export function wampShapeProblem(message: unknown): string | undefined {
  if (!Array.isArray(message) || message.length === 0) return 'not a WAMP message array';
  const m: unknown[] = message;
  const [type] = m;
  const payloadOk = (from: number) => isOptionalList(m[from]) && isOptionalDict(m[from + 1]);
  switch (type) {
    case wampMessage.HELLO:
      return typeof m[1] === 'string' && isDict(m[2]) ? undefined : 'HELLO needs a realm and details';
    case wampMessage.AUTHENTICATE:
      return typeof m[1] === 'string' && isOptionalDict(m[2]) ? undefined : 'AUTHENTICATE needs a signature';
    case wampMessage.GOODBYE:
      return isDict(m[1]) && typeof m[2] === 'string' ? undefined : 'GOODBYE needs details and a reason';
    case wampMessage.ERROR:
      return Number.isSafeInteger(m[1]) && isId(m[2]) && isDict(m[3]) && isUri(m[4]) && payloadOk(5)
        ? undefined
        : 'malformed ERROR';
    case wampMessage.PUBLISH:
    case wampMessage.CALL:
      return isId(m[1]) && isDict(m[2]) && isUri(m[3]) && payloadOk(4)
        ? undefined
        : 'malformed PUBLISH or CALL';
    case wampMessage.SUBSCRIBE:
      return isId(m[1]) && isDict(m[2]) && isUri(m[3]) ? undefined : 'malformed SUBSCRIBE or REGISTER';
    case wampMessage.REGISTER:
      if (!(isId(m[1]) && isDict(m[2]) && isUri(m[3]))) return 'malformed SUBSCRIBE or REGISTER';
      // As autobahn-python's parser (Crossbar): an unknown invocation policy is a protocol error.
      if (!(m[2]['invoke'] === undefined || isInvokePolicy(m[2]['invoke'])))
        return `invalid value for 'invoke' option in REGISTER`;
      // As autobahn-python: true, false or null (absent).
      return [undefined, null, true, false].includes(m[2]['force_reregister'] as boolean | null | undefined)
        ? undefined
        : `invalid type for 'force_reregister' option in REGISTER`;
    case wampMessage.UNSUBSCRIBE:
    case wampMessage.UNREGISTER:
      return isId(m[1]) && isId(m[2]) ? undefined : 'malformed UNSUBSCRIBE or UNREGISTER';
    case wampMessage.YIELD:
      return isId(m[1]) && isDict(m[2]) && payloadOk(3) ? undefined : 'malformed YIELD';
    case wampMessage.CANCEL:
      return isId(m[1]) && isOptionalDict(m[2]) ? undefined : 'malformed CANCEL';
    default:
      return 'unknown or router-to-client message type';
  }
}

/**
 * The options fox-wamp may see. Its own extensions (retained state, filters, reducers, `retain` on
 * publish) are dropped: Crossbar in production has none of them, and a filter of the wrong type makes
 * fox-wamp throw while delivering someone else's event.
 */
export function sanitizedOptions(type: number, options: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  const keep = (name: string, check: (value: unknown) => boolean) => {
    if (name in options && check(options[name])) kept[name] = options[name];
  };
  switch (type) {
    case wampMessage.PUBLISH:
      keep('acknowledge', (v) => typeof v === 'boolean');
      keep('exclude_me', (v) => typeof v === 'boolean');
      break;
    case wampMessage.REGISTER:
      keep('concurrency', (v) => Number.isSafeInteger(v) && (v as number) > 0);
      break;
    case wampMessage.CALL:
      keep('receive_progress', (v) => typeof v === 'boolean');
      break;
    case wampMessage.YIELD:
      keep('progress', (v) => typeof v === 'boolean');
      break;
    default:
      break;
  }
  return kept;
}

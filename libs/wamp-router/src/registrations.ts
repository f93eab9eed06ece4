/**
 * Registration rules and callee choice as Crossbar 21.3.1's dealer has them (crossbar/router/dealer.py,
 * processRegister and processCall), over fox-wamp's dealer, which accepts any number of callees per URI
 * and always invokes the first free one:
 *
 * - a REGISTER names an `invoke` policy: `single` (the default), `roundrobin`, `random`, `first` or
 *   `last`; any other value is a protocol error (autobahn-python's message parser rejects it);
 * - a URI someone already serves with `single` refuses another callee with
 *   `wamp.error.procedure_already_exists`;
 * - a URI served with a shared policy takes another callee only with the same policy, otherwise
 *   `wamp.error.procedure_exists_with_different_invocation_policy`;
 * - a call goes to the callee the policy picks among the URI's callees in registration order
 *   (round-robin resumes where it left off, and skips callees at their `concurrency` limit).
 *
 * The policy belongs to the registration: it is forgotten when its last callee leaves.
 *
 * A REGISTER with `force_reregister: true` (processRegister, after authorization) skips both refusals:
 * every callee of the existing registration is dropped and told so with an unsolicited
 * `UNREGISTERED [67, 0, {registration, reason: "wamp.error.unregistered"}]`, and the new callee starts
 * a new registration with its own policy. Invocations already sent to a dropped callee still take its
 * YIELD or ERROR.
 */
import { restoreUri, type FoxActorReg, type FoxEngine } from './fox-wamp.ts';
import { wampMessage, type InvokePolicy } from './wamp-messages.ts';

export const registrationErrors = {
  alreadyExists: 'wamp.error.procedure_already_exists',
  policyConflict: 'wamp.error.procedure_exists_with_different_invocation_policy',
} as const;

interface Registration {
  invoke: InvokePolicy;
  /** Registration ids (fox-wamp's `subId`) in the order their callees registered. */
  order: number[];
  roundrobin: number;
}

export interface RegistrationRules {
  /** Why a REGISTER of `uri` with `invoke` must be refused, as a WAMP error URI; undefined to accept. */
  refusal(uri: string, invoke: InvokePolicy): string | undefined;
  /** Runs `register` (fox-wamp's REGISTER handling); the registration it creates gets `invoke`. */
  registering(invoke: InvokePolicy, register: () => void): void;
  /**
   * The callee session `sessionId` is gone: its callers' in-flight calls fail with
   * `wamp.error.canceled`, as Crossbar answers them (fox-wamp leaves them unanswered for ever).
   */
  calleeGone(sessionId: number): void;
  /** Drops every callee of `uri` (force_reregister); answers how many were dropped. */
  evict(uri: string): number;
}

/**
 * Installs the rules on `engine`: its `doCall` picks the callee by policy. Returns what the gate asks
 * before and after each REGISTER.
 */
export function installRegistrationRules(engine: FoxEngine): RegistrationRules {
  const registrations = new Map<string, Registration>();

  /** The URI's live callees in registration order (fox-wamp keeps them in an object keyed by id). */
  const calleesOf = (uri: string): { registration: Registration | undefined; callees: FoxActorReg[] } => {
    const stack = engine.getSubStack(uri);
    const live = Object.keys(stack).length;
    const registration = registrations.get(uri);
    if (live === 0) {
      registrations.delete(uri);
      return { registration: undefined, callees: [] };
    }
    if (!registration) return { registration: undefined, callees: Object.values(stack) };
    registration.order = registration.order.filter((id) => stack[id] !== undefined);
    return { registration, callees: registration.order.map((id) => stack[id] as FoxActorReg) };
  };

  // fox-wamp adds a registration through `addSub` while handling a REGISTER (and for nothing else).
  let pending: InvokePolicy | undefined;
  const originalAddSub = engine.addSub.bind(engine);
  engine.addSub = (uriParts, actor) => {
    originalAddSub(uriParts, actor);
    const uri = restoreUri(uriParts);
    const registration = registrations.get(uri);
    if (registration) registration.order.push(actor.subId);
    else registrations.set(uri, { invoke: pending ?? 'single', order: [actor.subId], roundrobin: 0 });
  };

  const originalDoCall = engine.doCall.bind(engine);
  engine.doCall = (task) => {
    const uri = restoreUri(task.getUri());
    const { registration, callees } = calleesOf(uri);
    if (!registration || callees.length === 0) return originalDoCall(task);
    let chosen: FoxActorReg | undefined;
    switch (registration.invoke) {
      case 'single':
      case 'first':
        chosen = callees.find((callee) => callee.isAble());
        break;
      case 'last':
        chosen = callees.findLast((callee) => callee.isAble());
        break;
      case 'random': {
        const able = callees.filter((callee) => callee.isAble());
        chosen = able[Math.floor(Math.random() * able.length)];
        break;
      }
      case 'roundrobin':
        for (let tried = 0; tried < callees.length && !chosen; tried += 1) {
          const candidate = callees[registration.roundrobin % callees.length] as FoxActorReg;
          registration.roundrobin = (registration.roundrobin + 1) % callees.length;
          if (candidate.isAble()) chosen = candidate;
        }
        break;
    }
    // Every callee at its concurrency limit: fox-wamp queues the call until one is free.
    if (!chosen) return originalDoCall(task);
    chosen.callWorker(task);
    return null;
  };

  return {
    refusal(uri, invoke) {
      const { registration, callees } = calleesOf(uri);
      if (callees.length === 0) return undefined;
      const existing = registration?.invoke ?? 'single';
      if (existing === 'single') return registrationErrors.alreadyExists;
      if (existing !== invoke) return registrationErrors.policyConflict;
      return undefined;
    },
    calleeGone(sessionId) {
      for (const [invocationId, call] of engine.qYield.defers) {
        if (!call.destSID || call.destSID[sessionId] !== true) continue;
        engine.qYield.defers.delete(invocationId);
        if (!call.isActual()) continue;
        call.ctx.sendResult({
          id: call.msg.id,
          err: 'wamp.error.canceled',
          data: { args: ['callee disconnected from in-flight request'] },
          hdr: {},
        });
      }
    },
    evict(uri) {
      const callees = Object.values(engine.getSubStack(uri));
      for (const callee of callees) {
        callee.ctx.getSession().removeSub(engine, callee.subId);
        callee.ctx.wampSend([
          wampMessage.UNREGISTERED,
          0,
          { registration: callee.subId, reason: 'wamp.error.unregistered' },
        ]);
      }
      registrations.delete(uri);
      return callees.length;
    },
    registering(invoke, register) {
      pending = invoke;
      try {
        register();
      } finally {
        pending = undefined;
      }
    },
  };
}

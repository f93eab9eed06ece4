/**
 * The rules' own aggregates: a user's privacy (stream `presence-privacy-<userId>`) and the admins'
 * group policy (the one stream `presence-groups`). Pure decide/evolve; a change that changes nothing
 * appends nothing.
 */
import { validationError } from '@veche/errors';
import { presenceEventTypes, type GroupRule, type PrivacyMode } from '@veche/contracts';
import { readPresenceEvent } from './events.ts';

export const privacyStream = (userId: string): string => `presence-privacy-${userId}`;
export const groupsStream = 'presence-groups';

export interface PrivacyState {
  version: number;
  mode: PrivacyMode;
  users: readonly string[];
}
export const initialPrivacy: PrivacyState = { version: 0, mode: 'everyone', users: [] };

export type PrivacyEvent = {
  type: typeof presenceEventTypes.privacyChanged;
  data: { mode: PrivacyMode; users: string[] };
};

const sameMembers = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((value, i) => value === b[i]);

/** Lists are kept sorted and without duplicates, so equal rules compare equal. */
const normalized = (users: readonly string[]): string[] => [...new Set(users)].sort();

export function decidePrivacy(
  state: PrivacyState,
  command: { owner: string; mode: PrivacyMode; users: readonly string[] },
): PrivacyEvent[] {
  const users = normalized(command.users).filter((user) => user !== command.owner);
  if (state.mode === command.mode && sameMembers(state.users, users)) return [];
  return [{ type: presenceEventTypes.privacyChanged, data: { mode: command.mode, users } }];
}

export function evolvePrivacy(state: PrivacyState, event: PrivacyEvent): PrivacyState {
  return { version: state.version + 1, mode: event.data.mode, users: event.data.users };
}

export interface GroupPolicyState {
  version: number;
  /** Members by group name. */
  groups: ReadonlyMap<string, readonly string[]>;
  rules: readonly GroupRule[];
}
export const initialGroupPolicy: GroupPolicyState = { version: 0, groups: new Map(), rules: [] };

export type GroupPolicyEvent =
  | { type: typeof presenceEventTypes.groupSet; data: { name: string; members: string[] } }
  | { type: typeof presenceEventTypes.groupDeleted; data: { name: string } }
  | { type: typeof presenceEventTypes.groupRulesSet; data: { rules: GroupRule[] } };

export type GroupPolicyCommand =
  | { type: 'setGroup'; name: string; members: readonly string[] }
  | { type: 'deleteGroup'; name: string }
  | { type: 'setRules'; rules: readonly GroupRule[] };

const ruleKey = (rule: GroupRule): string => `${rule.viewerGroup}\u0000${rule.targetGroup}`;

export function decideGroupPolicy(state: GroupPolicyState, command: GroupPolicyCommand): GroupPolicyEvent[] {
  switch (command.type) {
    case 'setGroup': {
      const members = normalized(command.members);
      const current = state.groups.get(command.name);
      if (current && sameMembers(current, members)) return [];
      return [{ type: presenceEventTypes.groupSet, data: { name: command.name, members } }];
    }
    case 'deleteGroup':
      return state.groups.has(command.name)
        ? [{ type: presenceEventTypes.groupDeleted, data: { name: command.name } }]
        : [];
    case 'setRules': {
      const unknown = [...new Set(command.rules.flatMap((r) => [r.viewerGroup, r.targetGroup]))].filter(
        (name) => !state.groups.has(name),
      );
      if (unknown.length > 0) {
        throw validationError('A rule names a group that does not exist', {
          details: unknown.map((name) => ({ path: '/rules', message: `no group ${name}` })),
        });
      }
      const byKey = new Map(command.rules.map((rule) => [ruleKey(rule), rule]));
      const rules = [...byKey.values()].sort((a, b) => (ruleKey(a) < ruleKey(b) ? -1 : 1));
      if (
        rules.length === state.rules.length &&
        rules.every((r, i) => ruleKey(r) === ruleKey(state.rules[i]!))
      )
        return [];
      return [{ type: presenceEventTypes.groupRulesSet, data: { rules } }];
    }
  }
}

/** The group policy after `events` (the stream as read back; other event types are ignored). */
export function foldGroupPolicy(
  events: readonly { type: string; data: unknown }[],
  upTo = Infinity,
): GroupPolicyState {
  let state = initialGroupPolicy;
  for (const recorded of events) {
    if (state.version >= upTo) break;
    const event = readPresenceEvent(recorded);
    if (
      event?.type === presenceEventTypes.groupSet ||
      event?.type === presenceEventTypes.groupDeleted ||
      event?.type === presenceEventTypes.groupRulesSet
    ) {
      state = evolveGroupPolicy(state, event);
    }
  }
  return state;
}

export function evolveGroupPolicy(state: GroupPolicyState, event: GroupPolicyEvent): GroupPolicyState {
  const version = state.version + 1;
  switch (event.type) {
    case presenceEventTypes.groupSet: {
      const groups = new Map(state.groups);
      groups.set(event.data.name, event.data.members);
      return { ...state, version, groups };
    }
    case presenceEventTypes.groupDeleted: {
      const groups = new Map(state.groups);
      groups.delete(event.data.name);
      const { name } = event.data;
      // Rules that name a deleted group go with it.
      const rules = state.rules.filter((r) => r.viewerGroup !== name && r.targetGroup !== name);
      return { version, groups, rules };
    }
    case presenceEventTypes.groupRulesSet:
      return { ...state, version, rules: event.data.rules };
  }
}

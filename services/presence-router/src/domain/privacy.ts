/**
 * Who may see whose status: the seed's black and white lists (per user) and the privilege service's
 * group rules (set by admins). Pure; every lookup, notification and history read asks `maySee`, and
 * anyone who may not see a user is told 8 UNKNOWN, exactly as if the user had chosen it: nothing in
 * the answer says that a rule exists.
 *
 * Order: a user always sees themself; an admin rule "members of group A may not see members of group
 * B" is final (a user's white list cannot lift it); then the target's own mode: everyone, everyone but
 * the black list, or only the white list.
 */
import { presenceStatusCodes, type PresenceStatusCode, type PrivacyMode } from '@veche/contracts';

export interface PrivacyRules {
  mode: PrivacyMode;
  users: ReadonlySet<string>;
}

export const openRules: PrivacyRules = { mode: 'everyone', users: new Set() };

export interface GroupRuleSet {
  /** The groups a user belongs to. */
  groupsOf(userId: string): ReadonlySet<string>;
  /** Members of `viewerGroup` may not see members of `targetGroup`. */
  denies(viewerGroup: string, targetGroup: string): boolean;
}

/** The groups and rules as admins defined them, indexed for `maySee`. */
export function groupRuleSet(
  groups: readonly { name: string; members: readonly string[] }[],
  rules: readonly { viewerGroup: string; targetGroup: string }[],
): GroupRuleSet {
  const membership = new Map<string, Set<string>>();
  for (const group of groups) {
    for (const member of group.members) {
      let set = membership.get(member);
      if (!set) membership.set(member, (set = new Set()));
      set.add(group.name);
    }
  }
  const denied = new Set(rules.map((rule) => `${rule.viewerGroup}\u0000${rule.targetGroup}`));
  const none: ReadonlySet<string> = new Set();
  return {
    groupsOf: (userId) => membership.get(userId) ?? none,
    denies: (viewerGroup, targetGroup) => denied.has(`${viewerGroup}\u0000${targetGroup}`),
  };
}

export const noGroupRules: GroupRuleSet = groupRuleSet([], []);

/** Whether an admin rule hides `target` from `viewer`. */
export function groupsDeny(groups: GroupRuleSet, viewer: string, target: string): boolean {
  const viewerGroups = groups.groupsOf(viewer);
  if (viewerGroups.size === 0) return false;
  const targetGroups = groups.groupsOf(target);
  for (const v of viewerGroups) for (const t of targetGroups) if (groups.denies(v, t)) return true;
  return false;
}

export function maySee(viewer: string, target: string, rules: PrivacyRules, groups: GroupRuleSet): boolean {
  if (viewer === target) return true;
  if (groupsDeny(groups, viewer, target)) return false;
  switch (rules.mode) {
    case 'everyone':
      return true;
    case 'blacklist':
      return !rules.users.has(viewer);
    case 'whitelist':
      return rules.users.has(viewer);
  }
}

/** The status `viewer` is told about `target`. */
export function visibleStatus(
  status: PresenceStatusCode,
  viewer: string,
  target: string,
  rules: PrivacyRules,
  groups: GroupRuleSet,
): PresenceStatusCode {
  return maySee(viewer, target, rules, groups) ? status : presenceStatusCodes.UNKNOWN;
}

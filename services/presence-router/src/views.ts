/**
 * Reading what decides what a viewer is told: a user's current status, privacy rules and extension,
 * and the admins' group rules. Used by the `/pubsub` fan-out, the WAMP relay and the procedures alike.
 */
import { sql, type Kysely, type Transaction } from '@veche/db';
import { presenceStatusCodes, type PresenceStatusCode, type PrivacyMode } from '@veche/contracts';
import { groupRuleSet, openRules, type GroupRuleSet, type PrivacyRules } from './domain/privacy.ts';
import type { PresenceTables } from './tables.ts';

type Reader = Kysely<PresenceTables> | Transaction<PresenceTables>;

export interface TargetView {
  userId: string;
  /** The `presence-<userId>` stream version this view reflects (0: never seen). */
  version: number;
  status: PresenceStatusCode;
  /** Raw timestamp of the publication that set the status. */
  timestamp: string | undefined;
  changedAt: Date | undefined;
  rules: PrivacyRules;
  rulesVersion: number;
  extension: string | null;
}

export const unseenView = (userId: string): TargetView => ({
  userId,
  version: 0,
  status: presenceStatusCodes.NOT_REGISTERED,
  timestamp: undefined,
  changedAt: undefined,
  rules: openRules,
  rulesVersion: 0,
  extension: null,
});

/** Views of `userIds` (a user never seen is NOT_REGISTERED with open rules), in one query. */
export async function loadViews(db: Reader, userIds: readonly string[]): Promise<Map<string, TargetView>> {
  const views = new Map(userIds.map((id) => [id, unseenView(id)]));
  if (userIds.length === 0) return views;
  const { rows } = await sql<{
    user_id: string;
    version: number | null;
    status: PresenceStatusCode | null;
    status_timestamp: string | null;
    changed_at: Date | null;
    rules_version: number | null;
    mode: PrivacyMode | null;
    users: string[] | null;
    extension: string | null;
  }>`
    select u.id as user_id, s.version, s.status, s.status_timestamp, s.changed_at,
      p.version as rules_version, p.mode, p.users, d.extension
    from unnest(${[...views.keys()]}::text[]) as u(id)
    left join statuses s on s.user_id = u.id
    left join privacy p on p.user_id = u.id
    left join directory d on d.user_id = u.id`.execute(db);
  for (const row of rows) {
    const view = views.get(row.user_id);
    if (!view) continue;
    if (row.version !== null && row.status !== null) {
      view.version = row.version;
      view.status = row.status;
      view.timestamp = row.status_timestamp ?? undefined;
      view.changedAt = row.changed_at ?? undefined;
    }
    if (row.rules_version !== null && row.mode !== null) {
      view.rules = { mode: row.mode, users: new Set(row.users ?? []) };
      view.rulesVersion = row.rules_version;
    }
    view.extension = row.extension;
  }
  return views;
}

export async function loadPrivacyRules(
  db: Reader,
  userId: string,
): Promise<{ rules: PrivacyRules; version: number; users: string[] }> {
  const row = await db
    .selectFrom('privacy')
    .select(['version', 'mode', 'users'])
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!row) return { rules: openRules, version: 0, users: [] };
  return { rules: { mode: row.mode, users: new Set(row.users) }, version: row.version, users: row.users };
}

export async function loadGroups(db: Reader): Promise<{
  groups: { name: string; members: string[] }[];
  rules: { viewerGroup: string; targetGroup: string }[];
  ruleSet: GroupRuleSet;
}> {
  const [groups, rules] = await Promise.all([
    db.selectFrom('groups').select(['name', 'members']).orderBy('name').execute(),
    db
      .selectFrom('group_rules')
      .select(['viewer_group as viewerGroup', 'target_group as targetGroup'])
      .orderBy('viewer_group')
      .orderBy('target_group')
      .execute(),
  ]);
  return { groups, rules, ruleSet: groupRuleSet(groups, rules) };
}

/** The owners of extension numbers (disabled accounts own none). */
export async function ownersOf(db: Reader, extensions: readonly string[]): Promise<Map<string, string>> {
  if (extensions.length === 0) return new Map();
  const rows = await db
    .selectFrom('directory')
    .select(['user_id', 'extension'])
    .where('extension', 'in', [...new Set(extensions)])
    .where('disabled', '=', false)
    .execute();
  return new Map(rows.flatMap((row) => (row.extension ? [[row.extension, row.user_id] as const] : [])));
}

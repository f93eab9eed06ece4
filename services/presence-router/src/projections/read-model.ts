/**
 * The inline projection of the presence log: current statuses, their history, privacy rules, groups
 * and group rules, the directory, all updated in the append's transaction (the API reads its own
 * writes), and the NOTIFY that tells every replica, sent in that same transaction.
 */
import { sql, type Transaction } from '@veche/db';
import type { InlineProjection, RecordedEvent } from '@veche/event-store';
import { presenceEventTypes as T } from '@veche/contracts';
import { readPresenceEvent } from '../domain/events.ts';
import type { PresenceTables } from '../tables.ts';
import { notificationChannel, notify, type PresenceNotification } from './notifications.ts';

const prefixes = {
  presence: 'presence-',
  privacy: 'presence-privacy-',
  directory: 'presence-directory-',
} as const;

const userOf = (event: RecordedEvent, prefix: string): string => event.streamId.slice(prefix.length);

async function applyOne(raw: Transaction<unknown>, schema: string, recorded: RecordedEvent): Promise<void> {
  const trx = raw.$extendTables<PresenceTables>();
  const event = readPresenceEvent(recorded);
  if (!event) return;
  const at = recorded.metadata.occurredAt;
  const version = recorded.streamVersion;
  switch (event.type) {
    case T.statusChosen: {
      const { status, timestamp } = event.data;
      await trx
        .insertInto('statuses')
        .values({
          user_id: userOf(recorded, prefixes.presence),
          version,
          status: 3,
          chosen: status,
          chosen_timestamp: timestamp ?? null,
          status_timestamp: null,
          changed_at: at,
        })
        .onConflict((oc) =>
          oc.column('user_id').doUpdateSet({ version, chosen: status, chosen_timestamp: timestamp ?? null }),
        )
        .execute();
      return;
    }
    case T.statusChanged: {
      const { status, cause, timestamp } = event.data;
      const userId = userOf(recorded, prefixes.presence);
      const notification: PresenceNotification = {
        k: 'status',
        u: userId,
        v: version,
        s: status,
        ...(timestamp === undefined ? {} : { t: timestamp }),
      };
      // The current status, its history row and the notification: one statement, one round trip
      // (data-modifying WITH clauses always run; the NOTIFY is delivered at commit).
      await sql`
        with current as (
          insert into statuses (user_id, version, status, chosen, chosen_timestamp, status_timestamp, changed_at)
          values (${userId}, ${version}, ${status}, null, null, ${timestamp ?? null}, ${at})
          on conflict (user_id) do update
            set version = excluded.version, status = excluded.status,
              status_timestamp = excluded.status_timestamp, changed_at = excluded.changed_at
          returning 1
        ), history as (
          insert into status_history (user_id, version, status, cause, at)
          values (${userId}, ${version}, ${status}, ${cause}, ${at})
          returning 1
        )
        select pg_notify(${notificationChannel(schema)}, ${JSON.stringify(notification)})`.execute(raw);
      return;
    }
    case T.privacyChanged: {
      const { mode, users } = event.data;
      const userId = userOf(recorded, prefixes.privacy);
      await trx
        .insertInto('privacy')
        .values({ user_id: userId, version, mode, users })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ version, mode, users }))
        .execute();
      await notify(raw, schema, { k: 'privacy', u: userId, v: version });
      return;
    }
    case T.groupSet: {
      const { name, members } = event.data;
      await trx
        .insertInto('groups')
        .values({ name, members })
        .onConflict((oc) => oc.column('name').doUpdateSet({ members }))
        .execute();
      await notify(raw, schema, { k: 'groups', v: version });
      return;
    }
    case T.groupDeleted: {
      const { name } = event.data;
      await trx.deleteFrom('groups').where('name', '=', name).execute();
      await trx
        .deleteFrom('group_rules')
        .where((eb) => eb.or([eb('viewer_group', '=', name), eb('target_group', '=', name)]))
        .execute();
      await notify(raw, schema, { k: 'groups', v: version });
      return;
    }
    case T.groupRulesSet: {
      const { rules } = event.data;
      await trx.deleteFrom('group_rules').execute();
      if (rules.length > 0) {
        await trx
          .insertInto('group_rules')
          .values(rules.map((r) => ({ viewer_group: r.viewerGroup, target_group: r.targetGroup })))
          .execute();
      }
      await notify(raw, schema, { k: 'groups', v: version });
      return;
    }
    case T.directoryUpdated: {
      const { extension, previous, disabled } = event.data;
      const userId = userOf(recorded, prefixes.directory);
      // A number claimed here is no longer anyone else's (account events may arrive out of order).
      if (extension !== null) {
        await trx
          .updateTable('directory')
          .set({ extension: null })
          .where('extension', '=', extension)
          .where('user_id', '<>', userId)
          .execute();
      }
      await trx
        .insertInto('directory')
        .values({ user_id: userId, version, extension, disabled, updated_at: sql<Date>`now()` })
        .onConflict((oc) =>
          oc.column('user_id').doUpdateSet({ version, extension, disabled, updated_at: sql<Date>`now()` }),
        )
        .execute();
      if (extension !== previous)
        await notify(raw, schema, { k: 'extension', u: userId, e: extension, p: previous });
      if (disabled) await notify(raw, schema, { k: 'disabled', u: userId });
      return;
    }
  }
}

export function readModelProjection(schema: string): InlineProjection {
  return {
    name: 'presence.read-model',
    eventTypes: Object.values(T),
    async apply(trx, events) {
      for (const event of events) await applyOne(trx, schema, event);
    },
    // What `apply` writes; connections, activity, watches and replicas are the routers' own state.
    async reset(trx) {
      await sql`truncate statuses, status_history, privacy, groups, group_rules, directory`.execute(trx);
    },
  };
}

/** For `libs/event-store/bin/rebuild-read-models.ts --read-models <this module> --schema presence`. */
export const readModels = ({ schema }: { schema: string }): InlineProjection[] => [
  readModelProjection(schema),
];

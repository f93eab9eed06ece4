/**
 * Remote users over WAMP (issue 20): a user's `/api` subscription may name `<userId>@<domain>`
 * (`watches.kind = 'remote'`, the whole address as `target`); the federation link is told these
 * watches as it is told `/pubsub`'s, and every status it receives for such a watch is queued in
 * `federation_outbox` in the same transaction, then published on the viewer's
 * `veche.user.<viewerId>.presence` and deleted once the router acknowledged it (at least once).
 */
import { sql, type Migration } from '@veche/db';

export const federationOverWamp: Migration = {
  async up(db) {
    await sql`alter table watches drop constraint watches_kind_check`.execute(db);
    await sql`
      alter table watches add constraint watches_kind_check
        check (kind in ('user', 'extension', 'pattern', 'remote'))`.execute(db);
    await sql`create index watches_remote on watches (target) where kind = 'remote'`.execute(db);
    await sql`
      create table federation_outbox (
        id bigserial primary key,
        viewer text not null,
        address text not null,
        status smallint not null,
        queued_at timestamptz not null default now()
      )`.execute(db);
  },
};

/**
 * The event store's tables and its append function, created in the service's schema (unqualified
 * names resolve through the connection's search_path). Named `0000.event-store.…` so they run before
 * the service's own migrations, which may reference these tables.
 */
import { sql, type Migrations } from '@veche/db';

export const eventStoreMigrations: Migrations = {
  '0000.event-store.001-log': {
    up: async (db) => {
      // The stream's current version: the row a writer locks for optimistic concurrency, so two
      // appends to one stream serialise on it instead of racing on unique(stream_id, stream_version).
      await sql`
        create table streams (
          stream_id text primary key,
          version bigint not null check (version >= 0)
        )`.execute(db);
      // transaction_id orders the log by commit safety: a reader only takes rows whose transaction
      // is older than every transaction still running (see readAll).
      await sql`
        create table events (
          global_position bigserial primary key,
          stream_id text not null,
          stream_version bigint not null check (stream_version > 0),
          type text not null,
          data jsonb not null,
          metadata jsonb not null,
          recorded_at timestamptz not null default now(),
          transaction_id xid8 not null default pg_current_xact_id(),
          unique (stream_id, stream_version)
        )`.execute(db);
      await sql`create index events_commit_order on events (transaction_id, global_position)`.execute(db);
      await sql`
        create table subscription_checkpoints (
          name text primary key,
          transaction_id xid8 not null default '0',
          global_position bigint not null default 0,
          updated_at timestamptz not null default now()
        )`.execute(db);
    },
  },
  '0000.event-store.002-append-function': {
    up: async (db) => {
      // One call appends a whole group-commit batch: one round trip, one transaction, and a few
      // set-based statements however many appends it holds (a loop of statements per append cost
      // ~100 µs each, the bottleneck of group commit on two cores). A stream's k-th append of the
      // batch goes in round k, so within a round stream ids are distinct and its appends are checked
      // and written together. Stream rows are locked in byte order of stream id, so concurrent
      // batches wait on each other instead of deadlocking (a deadlock with an append made in a
      // caller's transaction is retried by the caller). A version mismatch is reported for that
      // append alone instead of failing the batch.
      // Input: [{s: streamId, k: 'any'|'exists'|'version', v: version, e: [{t: type, d: data, m: metadata}]}].
      await sql`
        create function event_store_append(appends jsonb)
        returns table (
          append_index int,
          appended boolean,
          previous_version bigint,
          positions bigint[],
          transaction_id text,
          recorded_at timestamptz
        )
        language plpgsql
        as $fn$
        #variable_conflict use_column
        declare
          idxs int[];
          sids text[];
          kinds text[];
          expecteds bigint[];
          evs jsonb[];
          rounds int[];
          last_round int;
        begin
          select array_agg(t.idx order by t.idx), array_agg(t.sid order by t.idx), array_agg(t.kind order by t.idx),
                 array_agg(t.expected order by t.idx), array_agg(t.events order by t.idx),
                 array_agg(t.rnd order by t.idx), max(t.rnd)
          into idxs, sids, kinds, expecteds, evs, rounds, last_round
          from (
            select (a.ordinality - 1)::int as idx, a.value ->> 's' as sid, a.value ->> 'k' as kind,
                   (a.value ->> 'v')::bigint as expected, a.value -> 'e' as events,
                   row_number() over (partition by a.value ->> 's' order by a.ordinality)::int as rnd
            from jsonb_array_elements(appends) with ordinality as a
          ) t;

          for r in 1 .. coalesce(last_round, 0) loop
            -- Streams this round may create exist from here on (a concurrent creator's row is
            -- waited for, then left alone).
            insert into streams (stream_id, version)
            select u.sid, 0
            from unnest(sids, kinds, expecteds, rounds) as u(sid, kind, expected, rnd)
            where u.rnd = r and (u.kind = 'any' or (u.kind = 'version' and u.expected = 0))
            order by u.sid collate "C"
            on conflict (stream_id) do nothing;

            perform 1 from streams s
            where s.stream_id = any (array(select u.sid from unnest(sids, rounds) as u(sid, rnd) where u.rnd = r))
            order by s.stream_id collate "C"
            for update;

            -- The rows are locked: this statement's snapshot sees their latest versions.
            return query
            with round_items as (
              select u.idx, u.sid, u.kind, u.expected, u.events, jsonb_array_length(u.events) as n
              from unnest(idxs, sids, kinds, expecteds, evs, rounds) as u(idx, sid, kind, expected, events, rnd)
              where u.rnd = r
            ), checked as (
              select ri.*, coalesce(s.version, 0) as current,
                     s.stream_id is not null and case ri.kind
                       when 'any' then true
                       when 'exists' then s.version > 0
                       else s.version = ri.expected
                     end as ok
              from round_items ri left join streams s on s.stream_id = ri.sid
            ), moved as (
              update streams s set version = c.current + c.n
              from checked c
              where c.ok and c.n > 0 and s.stream_id = c.sid
            ), inserted as (
              insert into events (stream_id, stream_version, type, data, metadata)
              select c.sid, c.current + e.ordinality, e.value ->> 't', e.value -> 'd', e.value -> 'm'
              from checked c cross join lateral jsonb_array_elements(c.events) with ordinality as e
              where c.ok
              order by c.sid collate "C", e.ordinality
              returning events.global_position, events.stream_id, events.stream_version
            ), by_stream as (
              select i.stream_id, array_agg(i.global_position order by i.stream_version) as positions
              from inserted i group by i.stream_id
            )
            select c.idx, c.ok, c.current, case when c.ok then coalesce(b.positions, '{}') end,
                   case when c.ok then pg_current_xact_id()::text end, case when c.ok then now() end
            from checked c left join by_stream b on b.stream_id = c.sid;
          end loop;

          if pg_current_xact_id_if_assigned() is not null
             and exists (select 1 from events e where e.transaction_id = pg_current_xact_id_if_assigned()) then
            -- Wakes the schema's subscriptions at commit; the channel name mirrors notificationChannel().
            perform pg_notify(left(current_schema(), 50) || '.events', '');
          end if;
        end
        $fn$`.execute(db);
    },
  },
  '0000.event-store.003-append-one': {
    up: async (db) => {
      // A batch of one append (one writer, or any append made in a caller's transaction) is most
      // batches. The set-based function spends about a third of its server time on the machinery of
      // batches (aggregating the input, rounds, the lock statement, joins): for one append, one
      // conditional UPDATE locks the stream row, checks the expected version and moves it, then one
      // INSERT writes the events. Same results and the same row as event_store_append's.
      // Input: the stream, the expectation ('any' | 'exists' | 'version' with its version) and the
      // events as [{t: type, d: data, m: metadata}].
      await sql`
        create function event_store_append_one(p_stream_id text, p_kind text, p_expected bigint, p_events jsonb)
        returns table (
          append_index int,
          appended boolean,
          previous_version bigint,
          positions bigint[],
          transaction_id text,
          recorded_at timestamptz
        )
        language plpgsql
        as $fn$
        #variable_conflict use_column
        declare
          n int := jsonb_array_length(p_events);
          previous bigint;
          written bigint[];
        begin
          if p_kind = 'any' or (p_kind = 'version' and p_expected = 0) then
            -- A concurrent creator's row is waited for, then left alone.
            insert into streams (stream_id, version) values (p_stream_id, 0) on conflict (stream_id) do nothing;
          end if;
          -- Locks the row; under a concurrent append the condition is checked again on its new version.
          update streams s set version = s.version + n
          where s.stream_id = p_stream_id and case p_kind
            when 'any' then true
            when 'exists' then s.version > 0
            else s.version = p_expected
          end
          returning s.version - n into previous;
          if not found then
            return query select 0, false, coalesce((select s.version from streams s where s.stream_id = p_stream_id), 0::bigint),
                                null::bigint[], null::text, null::timestamptz;
            return;
          end if;
          if n > 0 then
            with inserted as (
              insert into events (stream_id, stream_version, type, data, metadata)
              select p_stream_id, previous + e.ordinality, e.value ->> 't', e.value -> 'd', e.value -> 'm'
              from jsonb_array_elements(p_events) with ordinality as e
              returning events.global_position, events.stream_version
            )
            select array_agg(i.global_position order by i.stream_version) into written from inserted i;
            -- Wakes the schema's subscriptions at commit; the channel name mirrors notificationChannel().
            perform pg_notify(left(current_schema(), 50) || '.events', '');
          end if;
          return query select 0, true, previous, coalesce(written, '{}'::bigint[]), pg_current_xact_id()::text, now();
        end
        $fn$`.execute(db);
    },
  },

  '0000.event-store.004-shared-metadata': {
    up: async (db) => {
      // The metadata every event of an append shares (occurredAt, actor, correlation, causation, trace:
      // prepareEvents fills them from the append's context) is stored once per append, in
      // event_shared_metadata, instead of in each of its rows: an event's row keeps its own part (its
      // eventId, or all of its metadata when it has metadata of its own) and shared_id, and readers
      // read `shared.metadata || events.metadata`, the same object as before. Rows written before, or
      // by the set-based function, have no shared_id and their whole metadata in the row. A typical
      // event's row was 440 bytes, 230 of them metadata; it is now about 270 (less heap, WAL and
      // relation extension per event, ~15% of the server's CPU for an append of 100).
      // Rows are never deleted from either table, so no foreign key (its check would cost per event).
      await sql`
        create table event_shared_metadata (
          shared_id bigint generated always as identity primary key,
          metadata jsonb not null
        )`.execute(db);
      // Nullable without a default: no rewrite of an existing table.
      await sql`alter table events add column shared_id bigint`.execute(db);
      // The single-append function of 003 taking the shared metadata apart: an event is
      // {t: type, d: data, i: eventId} (its metadata is p_shared plus its eventId) or {t, d, m: metadata}
      // (see encodeEvents). A new name instead of a new signature of event_store_append_one: connections
      // of processes still running the old code keep their prepared statements, and the old function
      // (whose rows carry their whole metadata) stays for them.
      await sql`
        create function event_store_append_one_shared(p_stream_id text, p_kind text, p_expected bigint,
                                                      p_shared jsonb, p_events jsonb)
        returns table (
          append_index int,
          appended boolean,
          previous_version bigint,
          positions bigint[],
          transaction_id text,
          recorded_at timestamptz
        )
        language plpgsql
        as $fn$
        #variable_conflict use_column
        declare
          n int := jsonb_array_length(p_events);
          previous bigint;
          written bigint[];
          shared bigint;
        begin
          if p_kind = 'any' or (p_kind = 'version' and p_expected = 0) then
            -- A concurrent creator's row is waited for, then left alone.
            insert into streams (stream_id, version) values (p_stream_id, 0) on conflict (stream_id) do nothing;
          end if;
          -- Locks the row; under a concurrent append the condition is checked again on its new version.
          update streams s set version = s.version + n
          where s.stream_id = p_stream_id and case p_kind
            when 'any' then true
            when 'exists' then s.version > 0
            else s.version = p_expected
          end
          returning s.version - n into previous;
          if not found then
            return query select 0, false, coalesce((select s.version from streams s where s.stream_id = p_stream_id), 0::bigint),
                                null::bigint[], null::text, null::timestamptz;
            return;
          end if;
          if n > 0 then
            if p_shared is not null then
              insert into event_shared_metadata (metadata) values (p_shared) returning shared_id into shared;
            end if;
            with inserted as (
              insert into events (stream_id, stream_version, type, data, metadata, shared_id)
              select p_stream_id, previous + e.ordinality, e.value ->> 't', e.value -> 'd',
                     coalesce(e.value -> 'm', jsonb_build_object('eventId', e.value -> 'i')),
                     case when e.value ? 'm' then null else shared end
              from jsonb_array_elements(p_events) with ordinality as e
              returning events.global_position, events.stream_version
            )
            select array_agg(i.global_position order by i.stream_version) into written from inserted i;
            -- Wakes the schema's subscriptions at commit; the channel name mirrors notificationChannel().
            perform pg_notify(left(current_schema(), 50) || '.events', '');
          end if;
          return query select 0, true, previous, coalesce(written, '{}'::bigint[]), pg_current_xact_id()::text, now();
        end
        $fn$`.execute(db);
    },
  },
};

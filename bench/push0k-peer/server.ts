/**
 * A push0k-style server written from seed 000's description, as the baseline Veche is measured
 * against: one Node process, socket.io, node-postgres; a salted-challenge login (the stored hash is
 * sha256(sha256(password)), the client proves it with sha256(storedHash + connection id)); the sender
 * checked against the authenticated user; every message one row, every delivery receipt one row, all
 * SQL parameterised. Not part of Veche: it exists so `node bench/push0k.ts --side-by-side` compares
 * Veche with what users would otherwise run, on the same machine, in the same invocation.
 *
 * Usage: node bench/push0k-peer/server.ts   (DATABASE_URL, PEER_SCHEMA, PORT, PEER_POOL_SIZE)
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import pg from 'pg';
import { Server } from 'socket.io';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** What push0k stores for a password: a double sha256. */
export const storedHash = (password: string) => sha256(sha256(password));
/** What a client sends to log in on the connection `uid`. */
export const loginProof = (password: string, uid: string) => sha256(storedHash(password) + uid);

const schemaSql = (schema: string) => `
  create schema if not exists "${schema}";
  set search_path to "${schema}";
  create table if not exists users (id text primary key, password_hash text not null);
  create table if not exists rooms (id text primary key, name text not null);
  create table if not exists room_members (
    room_id text not null references rooms (id), user_id text not null references users (id),
    primary key (room_id, user_id));
  create table if not exists messages (
    id bigserial primary key, room_id text not null references rooms (id),
    sender_id text not null references users (id), body text not null,
    created_at timestamptz not null default now());
  create table if not exists receipts (
    message_id bigint not null references messages (id), user_id text not null references users (id),
    delivered_at timestamptz not null default now(), primary key (message_id, user_id));`;

/** Creates the schema and the users, and one room they all belong to (push0k's admin does this). */
export async function seedPeer(
  databaseUrl: string,
  schema: string,
  users: readonly { id: string; password: string }[],
  roomId: string,
): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(schemaSql(schema));
    for (const user of users)
      await client.query('insert into users (id, password_hash) values ($1, $2)', [
        user.id,
        storedHash(user.password),
      ]);
    await client.query('insert into rooms (id, name) values ($1, $2)', [roomId, 'push0k']);
    for (const user of users)
      await client.query('insert into room_members (room_id, user_id) values ($1, $2)', [roomId, user.id]);
  } finally {
    await client.end();
  }
}

export interface PeerServer {
  url: string;
  close(): Promise<void>;
}

export async function startPeerServer(options: {
  databaseUrl: string;
  schema: string;
  port?: number;
  poolSize?: number;
}): Promise<PeerServer> {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 10,
    options: `-c search_path="${options.schema}"`,
  });
  const http = createServer();
  const io = new Server(http, { serveClient: false, maxHttpBufferSize: 1e6 });
  const memberships = new Map<string, Set<string>>();

  io.on('connection', (socket) => {
    let userId: string | undefined;
    socket.emit('challenge', { uid: socket.id });
    socket.on('login', async (login: { user?: unknown; hash?: unknown }, reply?: (ok: boolean) => void) => {
      const { rows } = await pool.query<{ password_hash: string }>(
        'select password_hash from users where id = $1',
        [String(login.user)],
      );
      const ok = rows[0] !== undefined && sha256(rows[0].password_hash + socket.id) === login.hash;
      if (ok) {
        userId = String(login.user);
        const rooms = await pool.query<{ room_id: string }>(
          'select room_id from room_members where user_id = $1',
          [userId],
        );
        for (const { room_id } of rooms.rows) {
          await socket.join(room_id);
          if (!memberships.has(room_id)) memberships.set(room_id, new Set());
          memberships.get(room_id)!.add(userId);
        }
      }
      reply?.(ok);
    });
    socket.on(
      'message',
      async (message: { roomId?: unknown; text?: unknown }, reply?: (answer: unknown) => void) => {
        // The sender is always the authenticated user, and must be a member of the room.
        const roomId = String(message.roomId);
        if (!userId || !memberships.get(roomId)?.has(userId)) return reply?.({ error: 'forbidden' });
        try {
          const { rows } = await pool.query<{ id: string; created_at: Date }>(
            'insert into messages (room_id, sender_id, body) values ($1, $2, $3) returning id, created_at',
            [roomId, userId, String(message.text)],
          );
          const row = rows[0]!;
          socket
            .to(roomId)
            .emit('message', { id: row.id, roomId, sender: userId, text: message.text, at: row.created_at });
          reply?.({ id: row.id });
        } catch {
          reply?.({ error: 'internal' });
        }
      },
    );
    socket.on('delivered', async (receipt: { messageId?: unknown }, reply?: (ok: boolean) => void) => {
      if (!userId) return reply?.(false);
      try {
        await pool.query(
          'insert into receipts (message_id, user_id) values ($1, $2) on conflict do nothing',
          [String(receipt.messageId), userId],
        );
        reply?.(true);
      } catch {
        reply?.(false);
      }
    });
  });

  await new Promise<void>((resolve) => http.listen(options.port ?? 0, '127.0.0.1', resolve));
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await io.close();
      await pool.end();
    },
  };
}

if (import.meta.main) {
  const server = await startPeerServer({
    databaseUrl: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
    schema: process.env['PEER_SCHEMA'] ?? 'push0k_peer',
    port: Number(process.env['PORT'] ?? 0),
    poolSize: Number(process.env['PEER_POOL_SIZE'] ?? 10),
  });
  process.stdout.write(`${JSON.stringify({ msg: 'push0k peer listening', url: server.url })}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** The presence-router's configuration, read and validated once at start: a bad variable stops it with its name. */
import {
  ConfigError,
  amqpEnv,
  databaseEnv,
  env,
  envSchema,
  httpEnv,
  loadConfig,
  runtimeEnv,
  wampEnv,
} from '@veche/config';
import type { Static } from '@sinclair/typebox';
import { parseFederationKeys } from './federation/secrets.ts';

export const presenceEnvSchema = envSchema({
  ...runtimeEnv,
  ...httpEnv(3003),
  ...databaseEnv,
  ...amqpEnv,
  ...wampEnv,
  PRESENCE_DB_SCHEMA: env.string({
    default: 'presence',
    description: 'PostgreSQL schema of the event log and read models',
  }),
  PRESENCE_DB_POOL_SIZE: env.int({
    default: 10,
    minimum: 4,
    maximum: 100,
    description: 'PostgreSQL connections per replica',
  }),
  PRESENCE_EXCHANGE: env.string({
    default: 'veche.events',
    description: 'exchange the account events come from',
  }),
  PRESENCE_ACCOUNTS_QUEUE: env.string({
    default: 'presence.accounts',
    description: 'queue of account events (extension numbers, disabled accounts)',
  }),
  PRESENCE_IDLE_MS: env.int({
    default: 300_000,
    minimum: 1_000,
    description: 'no activity for this long: 6 ABSENT, unless the user chose a status',
  }),
  PRESENCE_OFFLINE_GRACE_MS: env.int({
    default: 5_000,
    minimum: 0,
    maximum: 600_000,
    description:
      'a user whose last connection closed is 3 NOT_REGISTERED after this long (reconnections within it go unnoticed)',
  }),
  PRESENCE_REPLICA_LEASE_MS: env.int({
    default: 15_000,
    minimum: 1_000,
    description: 'a replica whose heartbeat is older than this is dead, and its /pubsub connections with it',
  }),
  PRESENCE_SWEEP_MS: env.int({
    default: 1_000,
    minimum: 50,
    description: 'how often each replica renews its heartbeat and re-decides idle and offline users',
  }),
  PRESENCE_WS_RECONCILE_MS: env.int({
    default: 60_000,
    minimum: 1_000,
    description: "how often the /ws sessions are compared with the router's list",
  }),
  PRESENCE_MAX_WATCHES: env.int({
    default: 5_000,
    minimum: 1,
    description: 'subscriptions (users, numbers, patterns) one user may hold through /api',
  }),
  PUBSUB_MAX_FRAME_BYTES: env.int({
    default: 16_384,
    minimum: 256,
    maximum: 1_048_576,
    description: 'a larger /pubsub frame gets an error frame (four times this, or 1 MiB, closes with 1009)',
  }),
  PUBSUB_MAX_UIDS: env.int({
    default: 1_000,
    minimum: 1,
    description: "most uids in one /pubsub frame's events",
  }),
  PUBSUB_MAX_SUBSCRIPTIONS: env.int({
    default: 10_000,
    minimum: 1,
    description: 'subscriptions one /pubsub connection may hold',
  }),
  PUBSUB_FRAMES_PER_SECOND: env.int({
    default: 50,
    minimum: 1,
    description: 'frames a /pubsub connection may send per second, on average',
  }),
  PUBSUB_FRAME_BURST: env.int({
    default: 100,
    minimum: 1,
    description:
      'frames above the rate a /pubsub connection may send at once; as many more while over it closes it (1008)',
  }),
  PUBSUB_MAX_BUFFERED_BYTES: env.int({
    default: 4_194_304,
    minimum: 65_536,
    description: 'bytes queued for a /pubsub client that does not read before it is closed (1013)',
  }),
  PRESENCE_DOMAIN: env.string({
    default: 'localhost',
    description:
      "this deployment's domain in federation: users of linked deployments are <userId>@<their domain> (issue 20)",
  }),
  FEDERATION_BATCH_MAX: env.int({
    default: 100,
    minimum: 1,
    maximum: 10_000,
    description: 'most status changes in one batch sent to a linked domain',
  }),
  FEDERATION_BATCH_PAUSE_MS: env.int({
    default: 20,
    minimum: 0,
    maximum: 10_000,
    description: 'pause between two batches sent to a linked domain',
  }),
  FEDERATION_KEYS: env.optional(
    env.secret({
      description:
        'keys sealing the link secrets at rest: <id>:<base64 of 32 bytes>, comma-separated, the first seals and every one opens (rotation: put the new key first, restart, then drop the old one); unset: a key derived from VECHE_SERVICE_SECRET',
    }),
  ),
  PUBSUB_HEARTBEAT_MS: env.int({
    default: 30_000,
    minimum: 1_000,
    description: 'ping interval of /pubsub connections; one that misses a pong in between is dropped',
  }),
  PRESENCE_REPLICA_ID: env.optional(
    env.string({
      description: 'this replica’s name in the replicas table (default: host, process and a random part)',
    }),
  ),
});

export type PresenceConfig = Static<typeof presenceEnvSchema>;

export function loadPresenceConfig(source: NodeJS.ProcessEnv = process.env): PresenceConfig {
  const config = loadConfig(presenceEnvSchema, source);
  const problems: { variable: string; message: string }[] = [];
  if (config.PRESENCE_SWEEP_MS * 3 > config.PRESENCE_REPLICA_LEASE_MS) {
    problems.push({
      variable: 'PRESENCE_REPLICA_LEASE_MS',
      message: 'must be at least three times PRESENCE_SWEEP_MS, or live replicas would be taken for dead',
    });
  }
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(config.PRESENCE_DOMAIN)) {
    problems.push({ variable: 'PRESENCE_DOMAIN', message: 'must be a lower-case domain name' });
  }
  if (config.FEDERATION_KEYS !== undefined) {
    try {
      parseFederationKeys(config.FEDERATION_KEYS);
      if (/(^|,)\s*svc:/.test(config.FEDERATION_KEYS)) throw new Error('the key id svc is reserved');
    } catch (error) {
      problems.push({ variable: 'FEDERATION_KEYS', message: (error as Error).message });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

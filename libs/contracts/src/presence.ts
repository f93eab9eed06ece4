/**
 * Presence (the presence-router, `veche.presence.*`): the status codes of seed 002, the `/api/presence`
 * routes, what users receive on `veche.user.<userId>.presence`, what services receive on
 * `veche.presence.changes`, and the payloads of the presence-router's events.
 *
 * A user is addressed by user id or by the account's extension number (2 to 8 digits; user ids are
 * never all digits, they are UUIDs). Patterns such as `1000*` match extension numbers: `*` any digits,
 * `?` one digit.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Extension } from './account.ts';
import { Ok, UserId } from './auth.ts';
import { defineRoutes } from './routes.ts';

/** Seed 002's status codes, unchanged: clients outside this repository send and read these numbers. */
export const presenceStatusCodes = {
  ENABLE: 1,
  BUSY: 2,
  NOT_REGISTERED: 3,
  INCOMING: 4,
  DO_NOT_DISTURB: 5,
  ABSENT: 6,
  FORWARDING: 7,
  UNKNOWN: 8,
} as const;
export type PresenceStatusName = keyof typeof presenceStatusCodes;
export type PresenceStatusCode = (typeof presenceStatusCodes)[PresenceStatusName];

/**
 * What "online" means wherever Veche shows it (chat's member `online`, the web client's "n online"):
 * the presence-router shows the user as ENABLE to the viewer. One definition, one source of truth.
 */
export const isOnlineStatus = (status: number | undefined): boolean => status === presenceStatusCodes.ENABLE;

/** Seed 002's operation codes, the values of a `/pubsub` frame's `events` map. */
export const presenceOperationCodes = { SUBSCRIBE: 9, UNSUBSCRIBE: 10 } as const;
export type PresenceOperationCode = (typeof presenceOperationCodes)[keyof typeof presenceOperationCodes];

export const presenceStatusNames = Object.fromEntries(
  Object.entries(presenceStatusCodes).map(([name, code]) => [code, name]),
) as { readonly [C in PresenceStatusCode]: PresenceStatusName };

export const allPresenceStatuses = Object.values(presenceStatusCodes) as readonly PresenceStatusCode[];

export function isPresenceStatus(value: unknown): value is PresenceStatusCode {
  return typeof value === 'number' && (allPresenceStatuses as readonly number[]).includes(value);
}

export const PresenceStatus = Type.Union(
  [
    Type.Literal(1),
    Type.Literal(2),
    Type.Literal(3),
    Type.Literal(4),
    Type.Literal(5),
    Type.Literal(6),
    Type.Literal(7),
    Type.Literal(8),
  ],
  {
    description:
      '1 ENABLE, 2 BUSY, 3 NOT_REGISTERED, 4 INCOMING, 5 DO_NOT_DISTURB, 6 ABSENT, 7 FORWARDING, 8 UNKNOWN',
  },
);

/** Whom a lookup or subscription names: a user id or an extension number. */
export const PresenceAddress = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'A user id, or an extension number (2 to 8 digits)',
});
/** Extension numbers with `*` (any digits, possibly none) and `?` (one digit). */
export const ExtensionPattern = Type.String({
  minLength: 1,
  maxLength: 16,
  pattern: '^[0-9*?]+$',
  description: 'Digits with `*` (any digits) and `?` (one digit), e.g. `1000*`',
});

export const PrivacyMode = Type.Union([
  Type.Literal('everyone'),
  Type.Literal('blacklist'),
  Type.Literal('whitelist'),
]);
export type PrivacyMode = Static<typeof PrivacyMode>;

const DateTime = Type.String({ format: 'date-time' });

// The parts of a presence address, one place for the single address and for lists of them.
const userIdText = '[A-Za-z0-9_-]{1,64}';
const domainText = '[a-z0-9]([a-z0-9.-]*[a-z0-9])?';
/** A local user id, or `<userId>@<domain>`, as text inside a pattern. */
const presenceUserText = `${userIdText}(@${domainText})?`;

/** A user of another, linked deployment: `<userId>@<domain>`. */
export const RemoteUserId = Type.String({
  minLength: 3,
  maxLength: 318,
  pattern: `^${userIdText}@${domainText}$`,
});
/** A local user id, or `<userId>@<domain>` of a linked deployment (issue 20). */
export const PresenceUser = Type.Union([UserId, RemoteUserId]);

/** One user's status as the caller may see it (8 UNKNOWN when the caller may not). */
export const PresenceEntry = Type.Object(
  {
    userId: PresenceUser,
    extension: Type.Union([Extension, Type.Null()]),
    status: PresenceStatus,
    /** When the status last changed (absent when the caller may not see the user, or it never did). */
    changedAt: Type.Optional(DateTime),
  },
  { additionalProperties: false },
);
export type PresenceEntry = Static<typeof PresenceEntry>;

export const PresenceStatuses = Type.Object(
  { statuses: Type.Array(PresenceEntry) },
  { additionalProperties: false },
);

/** The caller's own presence: what others see, and what the caller chose (null: automatic). */
export const MyPresence = Type.Object(
  {
    userId: UserId,
    extension: Type.Union([Extension, Type.Null()]),
    status: PresenceStatus,
    chosen: Type.Union([PresenceStatus, Type.Null()]),
    /** The caller has a live `/pubsub` connection or `/ws` session. */
    connected: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type MyPresence = Static<typeof MyPresence>;

/** A deployment's name in federation (issue 20): a DNS-like name, e.g. `b.example.org`. */
export const FederationDomain = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$',
});
/** Whom a privacy list names: a local user, or a user of a linked domain. */
export const PrivacySubject = Type.Union([UserId, RemoteUserId]);

export const PrivacyRules = Type.Object(
  { mode: PrivacyMode, users: Type.Array(PrivacySubject, { maxItems: 1000, uniqueItems: true }) },
  { additionalProperties: false },
);
export type PrivacyRules = Static<typeof PrivacyRules>;

export const GroupName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });
/** Members of `viewerGroup` may not see the status of members of `targetGroup` (they get 8). */
export const GroupRule = Type.Object(
  { viewerGroup: GroupName, targetGroup: GroupName },
  { additionalProperties: false },
);
export type GroupRule = Static<typeof GroupRule>;
export const PresenceGroup = Type.Object(
  { name: GroupName, members: Type.Array(UserId, { maxItems: 10_000, uniqueItems: true }) },
  { additionalProperties: false },
);
export const GroupPolicyView = Type.Object(
  {
    groups: Type.Array(PresenceGroup),
    rules: Type.Array(GroupRule),
  },
  { additionalProperties: false },
);
export type GroupPolicyView = Static<typeof GroupPolicyView>;

export const HistoryEntry = Type.Object(
  { status: PresenceStatus, at: DateTime },
  { additionalProperties: false },
);
export const PresenceHistory = Type.Object(
  {
    userId: PresenceUser,
    /** The status now, as the caller may see it. */
    status: PresenceStatus,
    /** Newest first. */
    changes: Type.Array(HistoryEntry),
    /** More changes exist before the last one returned (page with `before`). */
    hasMore: Type.Boolean(),
  },
  { additionalProperties: false },
);

/** The inputs of the presence procedures: params, querystring and body merged. */
export const presenceInputs = {
  setStatus: Type.Object({ status: PresenceStatus }, { additionalProperties: false }),
  getStatuses: Type.Object(
    {
      /** Comma-separated user ids; `<userId>@<domain>` for a user of a linked deployment. */
      users: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 6_600,
          // Each item as PresenceUser says (a looser list let `x@-0` through to an answer that
          // broke the response schema: 500).
          pattern: `^${presenceUserText}(,${presenceUserText})*$`,
        }),
      ),
      /** Comma-separated extension numbers, or `*` for every user who has one. */
      extensions: Type.Optional(
        Type.String({ minLength: 1, maxLength: 9_000, pattern: '^(\\*|[0-9]{2,8}(,[0-9]{2,8})*)$' }),
      ),
      /** With `extensions=*`: the page after this extension number. */
      after: Type.Optional(Extension),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    },
    { additionalProperties: false },
  ),
  findExtensions: Type.Object(
    { pattern: ExtensionPattern, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) },
    { additionalProperties: false },
  ),
  extension: Type.Object({ extension: Extension }, { additionalProperties: false }),
  setExtensionStatus: Type.Object(
    { extension: Extension, status: PresenceStatus },
    { additionalProperties: false },
  ),
  subscriptions: Type.Object(
    {
      /**
       * User ids, extension numbers, extension patterns (`1000*`: live, including later matches), or
       * `<userId>@<domain>` of a linked deployment.
       */
      subscribe: Type.Optional(
        Type.Array(Type.Union([PresenceAddress, ExtensionPattern, RemoteUserId]), {
          maxItems: 1000,
          uniqueItems: true,
        }),
      ),
      unsubscribe: Type.Optional(
        Type.Array(Type.Union([PresenceAddress, ExtensionPattern, RemoteUserId]), {
          maxItems: 1000,
          uniqueItems: true,
        }),
      ),
    },
    { additionalProperties: false, minProperties: 1 },
  ),
  history: Type.Object(
    {
      /** A local user, or `<userId>@<domain>` (asked of that domain, whose privacy rules answer). */
      userId: PresenceUser,
      /** Only changes to this status ("when was X last ENABLE": `status=1&limit=1`). */
      status: Type.Optional(PresenceStatus),
      /** Changes before this time (the previous page's last `at`). */
      before: Type.Optional(DateTime),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    },
    { additionalProperties: false },
  ),
  group: Type.Object({ name: GroupName }, { additionalProperties: false }),
  setGroup: Type.Object(
    { name: GroupName, members: Type.Array(UserId, { maxItems: 10_000, uniqueItems: true }) },
    { additionalProperties: false },
  ),
  setGroupRules: Type.Object(
    { rules: Type.Array(GroupRule, { maxItems: 1000 }) },
    { additionalProperties: false },
  ),
} as const;

export const SubscriptionList = Type.Object(
  { subscriptions: Type.Array(Type.String()) },
  { additionalProperties: false },
);

/** The procedures behind the routes below (and the CLI's calls with service credentials). */
export const presenceProcedures = {
  myStatus: 'veche.presence.my_status',
  setStatus: 'veche.presence.set_status',
  clearStatus: 'veche.presence.clear_status',
  activity: 'veche.presence.activity',
  getStatuses: 'veche.presence.get_statuses',
  findExtensions: 'veche.presence.find_extensions',
  setExtensionStatus: 'veche.presence.set_extension_status',
  clearExtensionStatus: 'veche.presence.clear_extension_status',
  subscribe: 'veche.presence.subscribe',
  listSubscriptions: 'veche.presence.list_subscriptions',
  getPrivacy: 'veche.presence.get_privacy',
  setPrivacy: 'veche.presence.set_privacy',
  history: 'veche.presence.history',
  getGroups: 'veche.presence.get_groups',
  setGroup: 'veche.presence.set_group',
  deleteGroup: 'veche.presence.delete_group',
  setGroupRules: 'veche.presence.set_group_rules',
  linkDomain: 'veche.presence.federation.link',
  unlinkDomain: 'veche.presence.federation.unlink',
  listLinks: 'veche.presence.federation.list',
} as const;

/**
 * Procedures only services call (users cannot call procedures; the gateway does not route to these):
 * chat's member list asks what a viewer may see, and the `veche-presence` CLI, holding service
 * credentials on the services' router, reads and sets every status as the operator it is.
 */
export const presenceServiceProcedures = {
  statusesFor: 'veche.presence.service.statuses_for',
  getStatuses: 'veche.presence.service.get_statuses',
  findExtensions: 'veche.presence.service.find_extensions',
  setExtensionStatus: 'veche.presence.service.set_extension_status',
  clearExtensionStatus: 'veche.presence.service.clear_extension_status',
} as const;

export const presenceServiceInputs = {
  /** Statuses of `users` as `viewer` may see them. */
  statusesFor: Type.Object(
    { viewer: UserId, users: Type.Array(UserId, { maxItems: 5000 }) },
    { additionalProperties: false },
  ),
  getStatuses: Type.Object(
    {
      users: Type.Optional(Type.Array(UserId, { maxItems: 1000 })),
      /** Extension numbers, or `['*']` for every user who has one. */
      extensions: Type.Optional(Type.Array(Type.Union([Extension, Type.Literal('*')]), { maxItems: 1000 })),
      after: Type.Optional(Extension),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    },
    { additionalProperties: false },
  ),
  findExtensions: presenceInputs.findExtensions,
  setExtensionStatus: presenceInputs.setExtensionStatus,
  extension: presenceInputs.extension,
} as const;

/** What a user receives on `veche.user.<userId>.presence` (a closed union on `type`). */
export const PresenceRealtimeEvent = Type.Union([
  Type.Object(
    {
      type: Type.Literal('status'),
      /** `<userId>@<domain>` when the user is of a linked deployment (its extension is then null). */
      userId: PresenceUser,
      extension: Type.Union([Extension, Type.Null()]),
      status: PresenceStatus,
      changedAt: Type.Optional(DateTime),
    },
    { additionalProperties: false },
  ),
]);
export type PresenceRealtimeEvent = Static<typeof PresenceRealtimeEvent>;

/** Services only: every effective change, unfiltered, on this topic (the CLI's live view). */
export const presenceServiceTopic = 'veche.presence.changes';
export const PresenceServiceEvent = Type.Union([
  Type.Object(
    {
      type: Type.Literal('status'),
      userId: UserId,
      extension: Type.Union([Extension, Type.Null()]),
      status: PresenceStatus,
      changedAt: DateTime,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('extension'),
      userId: UserId,
      extension: Type.Union([Extension, Type.Null()]),
      status: PresenceStatus,
    },
    { additionalProperties: false },
  ),
]);
export type PresenceServiceEvent = Static<typeof PresenceServiceEvent>;

/** The presence-router's events (stream `presence-<userId>`, `presence-privacy-<userId>`, `presence-groups`). */
export const presenceEventTypes = {
  statusChosen: 'presence.status_chosen',
  statusChanged: 'presence.status_changed',
  privacyChanged: 'presence.privacy_changed',
  groupSet: 'presence.group_set',
  groupDeleted: 'presence.group_deleted',
  groupRulesSet: 'presence.group_rules_set',
  directoryUpdated: 'presence.directory_updated',
} as const;

export const StatusChangeCause = Type.Union([
  Type.Literal('published'),
  Type.Literal('cleared'),
  Type.Literal('connected'),
  Type.Literal('disconnected'),
  Type.Literal('idle'),
  Type.Literal('active'),
]);
export type StatusChangeCause = Static<typeof StatusChangeCause>;

/** Raw JSON text of a `/pubsub` frame's `timestamp`, kept exactly as the publisher sent it. */
export const RawTimestamp = Type.String({ minLength: 1, maxLength: 128 });

export const presenceEventData = {
  /** The user chose a status (kept until changed) or went back to automatic (`status: null`). */
  [presenceEventTypes.statusChosen]: Type.Object(
    {
      status: Type.Union([PresenceStatus, Type.Null()]),
      timestamp: Type.Optional(RawTimestamp),
      by: Type.String({ minLength: 1, maxLength: 100 }),
    },
    { additionalProperties: false },
  ),
  /** What subscribers are told: the status others see now (a re-publication of the same status too). */
  [presenceEventTypes.statusChanged]: Type.Object(
    {
      status: PresenceStatus,
      previous: PresenceStatus,
      cause: StatusChangeCause,
      timestamp: Type.Optional(RawTimestamp),
    },
    { additionalProperties: false },
  ),
  [presenceEventTypes.privacyChanged]: Type.Object(
    { mode: PrivacyMode, users: Type.Array(PrivacySubject) },
    { additionalProperties: false },
  ),
  [presenceEventTypes.groupSet]: Type.Object(
    { name: GroupName, members: Type.Array(UserId) },
    { additionalProperties: false },
  ),
  [presenceEventTypes.groupDeleted]: Type.Object({ name: GroupName }, { additionalProperties: false }),
  [presenceEventTypes.groupRulesSet]: Type.Object(
    { rules: Type.Array(GroupRule) },
    { additionalProperties: false },
  ),
  /** The account's extension number or state changed (from the gateway's account events). */
  [presenceEventTypes.directoryUpdated]: Type.Object(
    {
      extension: Type.Union([Extension, Type.Null()]),
      previous: Type.Union([Extension, Type.Null()]),
      disabled: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
} as const;

/** `presence.status_changed` as published on `veche.events` for other services (unfiltered). */
export const PresenceStatusChangedIntegration = Type.Object(
  {
    userId: UserId,
    status: PresenceStatus,
    previous: PresenceStatus,
    changedAt: DateTime,
  },
  { additionalProperties: false },
);

export const FederationLinkInput = Type.Object(
  {
    /** The other deployment's federation endpoint, e.g. wss://b.example.org/pubsub/federation. */
    url: Type.String({ minLength: 8, maxLength: 2048, pattern: '^wss?://' }),
    /** The credential both admins set on their side. */
    secret: Type.String({ minLength: 16, maxLength: 256 }),
  },
  { additionalProperties: false },
);
export const FederationLink = Type.Object(
  {
    domain: FederationDomain,
    url: Type.String(),
    /** Our side holds the link's connection now. */
    connected: Type.Boolean(),
    /** When the last batch from there arrived. */
    lastBatchAt: Type.Union([DateTime, Type.Null()]),
    /** From a change being recorded there to its arrival here, for the last batch (ms). */
    lagMs: Type.Union([Type.Integer(), Type.Null()]),
    /** Their users watched from here (distinct watcher–user pairs). */
    watches: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type FederationLink = Static<typeof FederationLink>;

const tags = ['presence'];

export const presenceRoutes = defineRoutes([
  {
    kind: 'rpc',
    method: 'GET',
    url: '/presence/status',
    auth: 'user',
    procedure: presenceProcedures.myStatus,
    summary: 'My presence: the status others see, and the one I chose',
    tags,
    response: MyPresence,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/presence/status',
    auth: 'user',
    procedure: presenceProcedures.setStatus,
    summary: 'Choose my status; it stays until I change it (others see 3 while I have no connection)',
    tags,
    body: presenceInputs.setStatus,
    response: MyPresence,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/presence/status',
    auth: 'user',
    procedure: presenceProcedures.clearStatus,
    summary: 'Back to the automatic status: 1 while active, 6 after the idle time',
    tags,
    response: MyPresence,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/presence/activity',
    auth: 'user',
    procedure: presenceProcedures.activity,
    summary: 'I am active (the web client says so on input, at most every few seconds)',
    tags,
    response: Ok,
    rateLimit: { max: 120, timeWindowMs: 60_000, key: 'user' },
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/presence',
    auth: 'user',
    procedure: presenceProcedures.getStatuses,
    summary: 'Statuses of users (`users=<id>,<id>`) or extension numbers (`extensions=1001,1002` or `*`)',
    tags,
    querystring: presenceInputs.getStatuses,
    response: PresenceStatuses,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/presence/extensions',
    auth: 'user',
    procedure: presenceProcedures.findExtensions,
    summary: 'Extension numbers matching a pattern (`1000*`)',
    tags,
    querystring: presenceInputs.findExtensions,
    response: Type.Object(
      {
        extensions: Type.Array(
          Type.Object({ extension: Extension, userId: UserId }, { additionalProperties: false }),
        ),
      },
      { additionalProperties: false },
    ),
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/presence/extensions/:extension/status',
    auth: 'user',
    procedure: presenceProcedures.setExtensionStatus,
    summary: 'Set the status of an extension number (its owner, or an admin)',
    tags,
    params: presenceInputs.extension,
    body: presenceInputs.setStatus,
    response: PresenceEntry,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/presence/extensions/:extension/status',
    auth: 'user',
    procedure: presenceProcedures.clearExtensionStatus,
    summary: 'Put an extension number back on the automatic status (its owner, or an admin)',
    tags,
    params: presenceInputs.extension,
    response: PresenceEntry,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/presence/subscriptions',
    auth: 'user',
    procedure: presenceProcedures.subscribe,
    summary:
      'Subscribe to (and unsubscribe from) users, extension numbers or patterns; changes arrive on veche.user.<me>.presence',
    tags,
    body: presenceInputs.subscriptions,
    response: PresenceStatuses,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/presence/subscriptions',
    auth: 'user',
    procedure: presenceProcedures.listSubscriptions,
    summary: 'What I am subscribed to',
    tags,
    response: SubscriptionList,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/presence/privacy',
    auth: 'user',
    procedure: presenceProcedures.getPrivacy,
    summary: 'Who may see my status: everyone, everyone but a list, or only a list',
    tags,
    response: PrivacyRules,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/presence/privacy',
    auth: 'user',
    procedure: presenceProcedures.setPrivacy,
    summary: 'Change who may see my status; it applies at once to existing subscriptions',
    tags,
    body: PrivacyRules,
    response: PrivacyRules,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/presence/history',
    auth: 'user',
    procedure: presenceProcedures.history,
    summary: "A user's status changes, newest first (`status=1&limit=1`: when was the user last ENABLE)",
    tags,
    querystring: presenceInputs.history,
    response: PresenceHistory,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/presence/groups',
    auth: 'admin',
    procedure: presenceProcedures.getGroups,
    summary: 'Presence groups and the rules between them',
    tags: ['admin'],
    response: GroupPolicyView,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/presence/groups/:name',
    auth: 'admin',
    procedure: presenceProcedures.setGroup,
    summary: 'Create a presence group or replace its members',
    tags: ['admin'],
    params: presenceInputs.group,
    body: Type.Object(
      { members: Type.Array(UserId, { maxItems: 10_000, uniqueItems: true }) },
      { additionalProperties: false },
    ),
    response: GroupPolicyView,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/presence/groups/:name',
    auth: 'admin',
    procedure: presenceProcedures.deleteGroup,
    summary: 'Delete a presence group and the rules that name it',
    tags: ['admin'],
    params: presenceInputs.group,
    response: GroupPolicyView,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/presence/group-rules',
    auth: 'admin',
    procedure: presenceProcedures.setGroupRules,
    summary: 'Replace the rules "members of viewerGroup may not see members of targetGroup"',
    tags: ['admin'],
    body: presenceInputs.setGroupRules,
    response: GroupPolicyView,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/presence/federation/:domain',
    auth: 'admin',
    procedure: presenceProcedures.linkDomain,
    summary:
      'Link another deployment: statuses its users watch here travel there, and ours to it; both admins link with the same secret',
    tags: ['admin'],
    params: Type.Object({ domain: FederationDomain }, { additionalProperties: false }),
    body: FederationLinkInput,
    response: FederationLink,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/presence/federation/:domain',
    auth: 'admin',
    procedure: presenceProcedures.unlinkDomain,
    summary: 'Unlink a deployment: its connection closes, its users are UNKNOWN (8) here',
    tags: ['admin'],
    params: Type.Object({ domain: FederationDomain }, { additionalProperties: false }),
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/presence/federation',
    auth: 'admin',
    procedure: presenceProcedures.listLinks,
    summary: 'Linked deployments, whether connected, and how far behind their statuses arrive',
    tags: ['admin'],
    response: Type.Object({ links: Type.Array(FederationLink) }, { additionalProperties: false }),
  },
] as const);

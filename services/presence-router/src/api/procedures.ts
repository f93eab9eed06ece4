/**
 * The presence-router's WAMP procedures: one handler per `/api/presence` route, typed from its
 * declaration in @veche/contracts and registered by the service kit's `serveRoutes`; and the
 * services-only ones (chat's member list, the CLI holding service credentials).
 */
import { presenceRoutes, presenceServiceInputs, presenceServiceProcedures as S } from '@veche/contracts';
import { serveRoutes, type RouteHandlers } from '@veche/service';
import type { WampService } from '@veche/wamp';
import type { PresenceApi } from './presence-api.ts';

const split = (list: string | undefined): string[] => (list ? list.split(',') : []);

export function presenceHandlers(api: PresenceApi): RouteHandlers<typeof presenceRoutes> {
  return {
    'veche.presence.my_status': ({ actor }) => api.myPresence(actor.userId),
    'veche.presence.set_status': ({ actor, input }) => api.setStatus(actor.userId, input.status),
    'veche.presence.clear_status': ({ actor }) => api.clearStatus(actor.userId),
    'veche.presence.activity': async ({ actor }) => {
      await api.activity(actor.userId);
      return { ok: true };
    },
    'veche.presence.get_statuses': ({ actor, input }) =>
      api.statusesOf(
        { userId: actor.userId },
        {
          users: split(input.users),
          extensions: split(input.extensions),
          ...(input.after === undefined ? {} : { after: input.after }),
          ...(input.limit === undefined ? {} : { limit: input.limit }),
        },
      ),
    'veche.presence.find_extensions': ({ input }) => api.findExtensions(input.pattern, input.limit),
    'veche.presence.set_extension_status': ({ actor, input }) =>
      api.setExtensionStatus(actor, input.extension, input.status),
    'veche.presence.clear_extension_status': ({ actor, input }) =>
      api.setExtensionStatus(actor, input.extension, null),
    'veche.presence.subscribe': ({ actor, input }) => api.subscribe(actor.userId, input),
    'veche.presence.list_subscriptions': ({ actor }) => api.listSubscriptions(actor.userId),
    'veche.presence.get_privacy': ({ actor }) => api.getPrivacy(actor.userId),
    'veche.presence.set_privacy': ({ actor, input }) => api.setPrivacy(actor.userId, input.mode, input.users),
    'veche.presence.history': ({ actor, input }) =>
      api.history(actor.userId, {
        userId: input.userId,
        ...(input.status === undefined ? {} : { status: input.status }),
        ...(input.before === undefined ? {} : { before: input.before }),
        ...(input.limit === undefined ? {} : { limit: input.limit }),
      }),
    'veche.presence.get_groups': () => api.getGroups(),
    'veche.presence.set_group': ({ actor, input }) => api.setGroup(input.name, input.members, actor.userId),
    'veche.presence.delete_group': ({ actor, input }) => api.deleteGroup(input.name, actor.userId),
    'veche.presence.set_group_rules': ({ actor, input }) => api.setGroupRules(input.rules, actor.userId),
    'veche.presence.federation.link': ({ input }) =>
      api.linkDomain(input.domain, { url: input.url, secret: input.secret }),
    'veche.presence.federation.unlink': ({ input }) => api.unlinkDomain(input.domain),
    'veche.presence.federation.list': () => api.listLinks(),
  };
}

export async function registerPresenceProcedures(wamp: WampService, api: PresenceApi): Promise<void> {
  await serveRoutes(wamp, presenceRoutes, presenceHandlers(api));
  await wamp.register(S.statusesFor, presenceServiceInputs.statusesFor, async ({ viewer, users }) => ({
    statuses: await api.statusesFor(viewer, users),
  }));
  await wamp.register(S.getStatuses, presenceServiceInputs.getStatuses, (query) =>
    api.statusesOf('operator', query),
  );
  await wamp.register(S.findExtensions, presenceServiceInputs.findExtensions, ({ pattern, limit }) =>
    api.findExtensions(pattern, limit),
  );
  await wamp.register(
    S.setExtensionStatus,
    presenceServiceInputs.setExtensionStatus,
    ({ extension, status }) => api.setExtensionStatus('operator', extension, status),
  );
  await wamp.register(S.clearExtensionStatus, presenceServiceInputs.extension, ({ extension }) =>
    api.setExtensionStatus('operator', extension, null),
  );
}

/**
 * The chat's WAMP procedures: `veche.chat.<name>` with kwargs `{actor, input}` as the gateway forwards
 * them (RpcInput in @veche/contracts). Each input schema is built from the route's own declaration
 * (params + querystring + body), so the gateway and chat validate against one source of truth.
 */
import { Type, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import { chatRoutes, type ApiRoute } from '@veche/contracts';
import { notFound } from '@veche/errors';
import type { WampService } from '@veche/wamp';
import type { Actor, Chat } from '../chat.ts';
import type { Typing } from '../typing.ts';

const ActorSchema = Type.Object(
  {
    userId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
  },
  { additionalProperties: false },
);

function propertiesOf(schema: TSchema | undefined): TProperties {
  if (!schema) return {};
  return (schema as TObject).properties ?? {};
}

/** The merged input of a route, as one closed object schema. */
export function inputSchemaOf(route: ApiRoute): TObject {
  return Type.Object(
    {
      ...propertiesOf(route.kind === 'rpc' ? route.body : undefined),
      ...propertiesOf(route.querystring),
      ...propertiesOf(route.params),
    },
    { additionalProperties: false },
  );
}

export const procedureSchemas: Record<string, TObject> = Object.fromEntries(
  chatRoutes.flatMap((route) =>
    route.kind === 'rpc'
      ? [
          [
            route.procedure,
            Type.Object({ actor: ActorSchema, input: inputSchemaOf(route) }, { additionalProperties: false }),
          ],
        ]
      : [],
  ),
);

type Handler = (actor: Actor, input: never) => unknown;

export function procedureHandlers(chat: Chat, typing: Typing): Record<string, Handler> {
  return {
    'veche.chat.createRoom': chat.createRoom,
    'veche.chat.listRooms': chat.listRooms,
    'veche.chat.getRoom': chat.getRoom,
    'veche.chat.joinRoom': chat.joinRoom,
    'veche.chat.leaveRoom': chat.leaveRoom,
    'veche.chat.inviteMember': chat.inviteMember,
    'veche.chat.kickMember': chat.kickMember,
    'veche.chat.setMemberRole': chat.setMemberRole,
    'veche.chat.renameRoom': chat.renameRoom,
    'veche.chat.setRoomTopic': chat.setRoomTopic,
    'veche.chat.archiveRoom': chat.archiveRoom,
    'veche.chat.listMembers': chat.listMembers,
    'veche.chat.openDirectRoom': chat.openDirectRoom,
    'veche.chat.postMessage': chat.postMessage,
    'veche.chat.listMessages': chat.listMessages,
    'veche.chat.editMessage': chat.editMessage,
    'veche.chat.deleteMessage': chat.deleteMessage,
    'veche.chat.addReaction': chat.addReaction,
    'veche.chat.removeReaction': chat.removeReaction,
    'veche.chat.getMessageReceipts': chat.getMessageReceipts,
    'veche.chat.switchRoom': chat.switchRoom,
    'veche.chat.postReceipts': chat.postReceipts,
    'veche.chat.getReceipts': chat.getReceipts,
    'veche.chat.sync': (actor) => chat.sync(actor),
    'veche.chat.search': chat.search,
    'veche.chat.listCommands': () => chat.listCommands(),
    'veche.chat.setTyping': async (actor, input: { roomId: string; typing: boolean }) => {
      if (!(await chat.memberRole(input.roomId, actor.userId))) throw notFound('No such room');
      const members = await chat.memberIds(input.roomId);
      const expiresInMs = await typing.set(input.roomId, actor.userId, input.typing, members);
      return { ok: true as const, expiresInMs };
    },
  };
}

export async function registerProcedures(wamp: WampService, chat: Chat, typing: Typing): Promise<void> {
  const handlers = procedureHandlers(chat, typing);
  for (const [procedure, schema] of Object.entries(procedureSchemas)) {
    const handler = handlers[procedure];
    if (!handler) throw new Error(`No handler for ${procedure}`);
    await wamp.register(procedure, schema, (args) => {
      const { actor, input } = args as { actor: Actor; input: never };
      // A PostgreSQL that is down answers `unavailable` (@veche/wamp, isDependencyDown): posts are idempotent.
      return handler(actor, input);
    });
  }
}

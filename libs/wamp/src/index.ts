export {
  callMetaKey,
  connectService,
  schemaProblems,
  type CallOptions,
  type EventHandler,
  type InvokePolicy,
  type RegisterOptions,
  type ProcedureContext,
  type ProcedureHandler,
  type PublishOptions,
  type ServiceConnectionOptions,
  type WampService,
} from './service.ts';
export type { Kwargs } from './autobahn.ts';
export {
  createRealtimeRelay,
  type RealtimeMessage,
  type RealtimeRelay,
  type RealtimeRelayOptions,
} from './relay.ts';

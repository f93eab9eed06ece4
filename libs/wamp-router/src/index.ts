export { startRouter, type Authorizer, type RouterOptions, type WampRouter } from './router.ts';
export {
  composeAuthenticators,
  procedureAuthenticator,
  serviceAuthenticator,
  type Authenticator,
  type RouterCalls,
  type TicketIdentity,
  type TicketRequest,
} from './authenticators.ts';
export { wampShapeProblem } from './wamp-messages.ts';

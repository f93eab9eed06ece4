export { runService, type ServiceApp, type ServiceDefinition } from './run.ts';
export { createServiceHttp, sendError, type ServiceHttpOptions } from './http.ts';
export { httpFailureOf, type HttpFailure } from './http-errors.ts';
export {
  checkReadiness,
  postgresCheck,
  type Readiness,
  type ReadinessCheck,
  type ReadinessChecks,
} from './readiness.ts';
export {
  inProcessProcedure,
  inputSchemaOf,
  procedureSchemaOf,
  routeOfProcedure,
  serveRoutes,
  type ActorOf,
  type ProcedureCall,
  type ProcedureNames,
  type RouteHandler,
  type RouteHandlers,
  type RouteOfProcedure,
  type ServeRoutesOptions,
} from './procedures.ts';

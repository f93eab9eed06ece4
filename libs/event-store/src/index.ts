export type * from './types.ts';
export { createEventStore } from './event-store.ts';
export { eventStoreMigrations } from './migrations.ts';
export { createSubscription } from './subscription.ts';
export {
  createProjectionRunner,
  rebuildProjection,
  projectionSubscriptionName,
  type ProjectionRunnerOptions,
} from './projections.ts';
export { compareCheckpoints, zeroCheckpoint } from './checkpoint.ts';
export { notificationChannel } from './append-plan.ts';

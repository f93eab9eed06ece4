export type * from './types.ts';
export { createEventStore } from './event-store.ts';
export { eventStoreMigrations } from './migrations.ts';
export { createSubscription } from './subscription.ts';
export { rebuildReadModels, type ReadModels, type RebuildOptions, type RebuildResult } from './rebuild.ts';
export { compareCheckpoints, zeroCheckpoint } from './checkpoint.ts';
export { notificationChannel } from './append-plan.ts';
export { uuidV7 } from './uuid-v7.ts';

export * from './schema.ts';
export * from './runs.ts';
export * from './api.ts';
export * from './wamp.ts';
export * from './bus.ts';
export * from './pubsub.ts';
export * from './hostile.ts';

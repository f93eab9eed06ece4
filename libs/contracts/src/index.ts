export * from './routes.ts';
export * from './actor.ts';

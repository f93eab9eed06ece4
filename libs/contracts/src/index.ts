export * from './routes.ts';
export * from './actor.ts';
export * from './chat.ts';
export * from './auth.ts';
export * from './account.ts';
export * from './admin.ts';
export * from './mailer.ts';

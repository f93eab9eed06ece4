/** The part of autobahn 26 (untyped CommonJS) the service client uses, loaded and typed in one place. */
import { createRequire } from 'node:module';

export type Kwargs = Record<string, unknown>;

export interface AutobahnResult {
  args: unknown[];
  kwargs: Kwargs;
}

export interface AutobahnError {
  error: string;
  args: unknown[];
  kwargs: Kwargs;
}

export type AutobahnEndpoint = (args: unknown[], kwargs: Kwargs) => unknown;

export interface AutobahnRegistration {
  procedure: string;
}

export interface AutobahnSession {
  readonly id: number | null;
  call(procedure: string, args: unknown[], kwargs: Kwargs, options?: Kwargs): Promise<unknown>;
  publish(topic: string, args: unknown[], kwargs: Kwargs, options?: Kwargs): Promise<unknown> | undefined;
  subscribe(
    topic: string,
    handler: (args: unknown[], kwargs: Kwargs) => void,
    options?: Kwargs,
  ): Promise<unknown>;
  register(procedure: string, endpoint: AutobahnEndpoint, options?: Kwargs): Promise<AutobahnRegistration>;
  leave(reason?: string, message?: string): void;
  unregister(registration: AutobahnRegistration): Promise<unknown>;
}

export interface AutobahnConnectionOptions {
  url: string;
  /** Which registered transport to use (libs/wamp registers `veche-ws`, see ws-transport.ts). */
  transports?: { type: string; url: string }[];
  realm: string;
  authmethods: string[];
  authid: string;
  onchallenge: (session: AutobahnSession, method: string, extra: unknown) => string;
  max_retries: number;
  initial_retry_delay?: number;
  max_retry_delay?: number;
  retry_delay_growth?: number;
  retry_if_unreachable?: boolean;
  on_user_error: (error: unknown, message: string) => void;
  on_internal_error: (error: unknown, message: string) => void;
}

export interface AutobahnConnection {
  onopen: (session: AutobahnSession, details: Kwargs) => void;
  /** Return true to stop retrying. */
  onclose: (reason: string, details: Kwargs) => boolean;
  open(): void;
  close(reason?: string, message?: string): void;
  readonly isOpen: boolean;
}

interface AutobahnModule {
  Connection: new (options: AutobahnConnectionOptions) => AutobahnConnection;
  Result: new (args?: unknown[], kwargs?: Kwargs) => AutobahnResult;
  Error: new (error: string, args?: unknown[], kwargs?: Kwargs) => AutobahnError;
  log: { warn: (...args: unknown[]) => void; debug: (...args: unknown[]) => void };
}

export const autobahn = createRequire(import.meta.url)('autobahn') as AutobahnModule;

export const isAutobahnResult = (value: unknown): value is AutobahnResult => value instanceof autobahn.Result;
export const isAutobahnError = (value: unknown): value is AutobahnError => value instanceof autobahn.Error;

/** An autobahn user client, as a browser connects: ticket = access token, authid = user id. */
import { connectWampClient, type TestWampClient, type TestWampSession } from '@veche/testing';

export type UserSession = TestWampSession;
export type UserClient = TestWampClient;
export const connectUser = connectWampClient;

export const errorUri = (error: unknown): string => (error as { error?: string }).error ?? String(error);

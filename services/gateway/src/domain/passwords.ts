/**
 * Password hashing with argon2id from node:crypto, in the PHC string format
 * (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`): the parameters travel with each hash, so the cost
 * can be raised later and old hashes still verify (and are re-hashed at the next log-in).
 */
import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';

export interface Argon2Parameters {
  /** KiB. */
  memory: number;
  passes: number;
  parallelism: number;
}

const tagLength = 32;

function derive(password: string, salt: Buffer, p: Argon2Parameters): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    argon2(
      'argon2id',
      {
        message: password,
        nonce: salt,
        parallelism: p.parallelism,
        tagLength,
        memory: p.memory,
        passes: p.passes,
      },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

const b64 = (buffer: Buffer) => buffer.toString('base64').replace(/=+$/, '');

export async function hashPassword(password: string, p: Argon2Parameters): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, p);
  return `$argon2id$v=19$m=${p.memory},t=${p.passes},p=${p.parallelism}$${b64(salt)}$${b64(key)}`;
}

const phc =
  /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{16,})$/;

export function parametersOf(hash: string): Argon2Parameters | undefined {
  const match = phc.exec(hash);
  if (!match) return undefined;
  return { memory: Number(match[1]), passes: Number(match[2]), parallelism: Number(match[3]) };
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const match = phc.exec(hash);
  const p = parametersOf(hash);
  if (!match || !p) return false;
  const salt = Buffer.from(match[4] ?? '', 'base64');
  const expected = Buffer.from(match[5] ?? '', 'base64');
  const key = await derive(password, salt, p);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** True when the stored hash used weaker parameters than the configured ones. */
export function needsRehash(hash: string, wanted: Argon2Parameters): boolean {
  const p = parametersOf(hash);
  return !p || p.memory < wanted.memory || p.passes < wanted.passes || p.parallelism !== wanted.parallelism;
}

/**
 * The chat's internal HTTP server: attachments (upload, download, thumbnail) proxied by the gateway
 * with a signed `x-veche-actor` header, on the kit's server (/health, /ready, the error shape). Files
 * live under UPLOADS_DIR (one directory, which the standby copies): `<first two hex of the id>/<id>`
 * and `<id>.thumb.webp`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import { internalHeaders, verifyActor, type Actor } from '@veche/contracts';
import type { Database } from '@veche/db';
import { notFound, unauthorized, validationError, VecheError } from '@veche/errors';
import type { Logger } from '@veche/log';
import { createServiceHttp, type ReadinessChecks } from '@veche/service';
import type { FastifyReply, FastifyRequest } from 'fastify';
import sharp from 'sharp';
import { uuidV7 as v7 } from '@veche/event-store';
import { tablesOf } from './tables.ts';

export interface ChatHttpOptions {
  database: Database<unknown>;
  log: Logger;
  secret: string;
  uploadsDir: string;
  maxBytes: number;
  allowedTypes: readonly string[];
  readiness: ReadinessChecks;
}

const idPattern = /^[A-Za-z0-9_-]{1,64}$/;
const thumbnailSize = 320;

export function typeAllowed(contentType: string, allowed: readonly string[]): boolean {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return allowed.some((rule) => rule === type || (rule.endsWith('/*') && type.startsWith(rule.slice(0, -1))));
}

/** A file name safe to store and to put back in a Content-Disposition header. */
export function cleanFilename(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(/[\u0000-\u001f\u007f"]/g, '')
    .trim()
    .slice(0, 200);
  return cleaned.length > 0 ? cleaned : 'file';
}

const filePath = (dir: string, id: string) => join(dir, id.slice(-2), id);
const thumbPath = (dir: string, id: string) => `${filePath(dir, id)}.thumb.webp`;

/**
 * A multipart body busboy cannot read (no boundary, a malformed or truncated part) is the client's
 * fault: 400, not 500. Errors @fastify/multipart already typed (its limits: 413) keep their status.
 */
function unreadableMultipart(error: unknown): unknown {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return error;
  return validationError('The multipart body cannot be read (boundary missing, or a part malformed)', {
    cause: error,
  });
}

export async function createChatHttp(options: ChatHttpOptions) {
  const { database, secret, uploadsDir } = options;
  const db = tablesOf(database.db);
  const app = await createServiceHttp({
    log: options.log.child({ component: 'http' }),
    readiness: options.readiness,
    bodyLimit: 1024,
  });
  await app.register(multipart, {
    limits: { fileSize: options.maxBytes, files: 1, fields: 5, fieldSize: 1024, parts: 6, headerPairs: 100 },
  });

  const actorOf = (request: FastifyRequest): Actor => {
    const actor = verifyActor(request.headers[internalHeaders.actor], secret);
    if (!actor) throw unauthorized('Missing or invalid actor assertion');
    return actor;
  };
  const ids = (request: FastifyRequest, names: readonly string[]): Record<string, string> => {
    const params = request.params as Record<string, unknown>;
    const out: Record<string, string> = {};
    for (const name of names) {
      const value = params[name];
      if (typeof value !== 'string' || !idPattern.test(value)) throw validationError(`Invalid ${name}`);
      out[name] = value;
    }
    return out;
  };
  const mustBeMember = async (roomId: string, userId: string) => {
    const member = await db
      .selectFrom('members')
      .select('role')
      .where('room_id', '=', roomId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!member) throw notFound('No such room');
  };

  app.post('/rooms/:roomId/attachments', async (request, reply) => {
    const actor = actorOf(request);
    const { roomId } = ids(request, ['roomId']);
    await mustBeMember(roomId!, actor.userId);
    if (!request.isMultipart()) throw validationError('Send multipart/form-data with a `file` field');
    const part = await request.file().catch((error: unknown) => {
      throw unreadableMultipart(error);
    });
    if (!part || part.fieldname !== 'file') throw validationError('Send the file in the `file` field');
    const contentType = part.mimetype.toLowerCase();
    if (!typeAllowed(contentType, options.allowedTypes)) {
      part.file.resume();
      throw validationError(`Files of type ${contentType} are not accepted`, {
        details: { accepted: options.allowedTypes },
      });
    }
    const id = v7().replaceAll('-', '');
    const tmpDir = join(uploadsDir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${id}.${randomUUID()}`);
    const hash = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        part.file,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(tmp, { flags: 'wx' }),
      );
      if (part.file.truncated) {
        throw new VecheError('validation', 'The file is too large', {
          details: { maxBytes: options.maxBytes },
        });
      }
      if (size === 0) throw validationError('The file is empty');
      let hasThumbnail = false;
      await mkdir(join(uploadsDir, id.slice(-2)), { recursive: true });
      if (contentType.startsWith('image/') && contentType !== 'image/svg+xml') {
        try {
          await sharp(tmp, { limitInputPixels: 100_000_000 })
            .rotate()
            .resize(thumbnailSize, thumbnailSize, { fit: 'inside', withoutEnlargement: true })
            .webp({ quality: 75 })
            .toFile(thumbPath(uploadsDir, id));
          hasThumbnail = true;
        } catch (error) {
          // Declared an image but is not one we can read: refuse rather than serve it as an image.
          throw validationError('The image cannot be read', { cause: error });
        }
      }
      await rename(tmp, filePath(uploadsDir, id));
      const filename = cleanFilename(part.filename);
      await db
        .insertInto('attachments')
        .values({
          id,
          room_id: roomId!,
          uploader_id: actor.userId,
          filename,
          content_type: contentType,
          size,
          sha256: hash.digest('hex'),
          has_thumbnail: hasThumbnail,
        })
        .execute();
      request.log.info({ attachmentId: id, roomId, size, contentType }, 'attachment stored');
      return reply.code(201).send({ attachmentId: id, filename, contentType, size, hasThumbnail });
    } catch (error) {
      await rm(tmp, { force: true });
      await rm(thumbPath(uploadsDir, id), { force: true });
      // The part's stream failing is the body's fault (cut short, malformed), not ours.
      throw part.file.errored ? unreadableMultipart(error) : error;
    }
  });

  const download = (thumbnail: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const actor = actorOf(request);
    const { roomId, attachmentId } = ids(request, ['roomId', 'attachmentId']);
    await mustBeMember(roomId!, actor.userId);
    const row = await db
      .selectFrom('attachments')
      .select(['filename', 'content_type', 'has_thumbnail'])
      .where('id', '=', attachmentId!)
      .where('room_id', '=', roomId!)
      .executeTakeFirst();
    if (!row || (thumbnail && !row.has_thumbnail)) throw notFound('No such attachment');
    const path = thumbnail ? thumbPath(uploadsDir, attachmentId!) : filePath(uploadsDir, attachmentId!);
    const info = await stat(path).catch(() => undefined);
    if (!info) throw notFound('No such attachment');
    const disposition =
      row.content_type.startsWith('image/') && row.content_type !== 'image/svg+xml' ? 'inline' : 'attachment';
    return reply
      .header('content-type', thumbnail ? 'image/webp' : row.content_type)
      .header('content-length', info.size)
      .header('content-disposition', `${disposition}; filename*=UTF-8''${encodeURIComponent(row.filename)}`)
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; sandbox")
      .header('cache-control', 'private, max-age=86400')
      .send(createReadStream(path));
  };
  app.get('/rooms/:roomId/attachments/:attachmentId', download(false));
  app.get('/rooms/:roomId/attachments/:attachmentId/thumbnail', download(true));

  return app;
}

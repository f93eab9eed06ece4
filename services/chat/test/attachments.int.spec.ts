/**
 * Attachments through the chat's internal HTTP, as the gateway proxies them (signed `x-veche-actor`):
 * upload with size and type limits, thumbnails for images, download only as a member of the room,
 * attaching to a message.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { signActor } from '@veche/contracts';
import sharp from 'sharp';
import { secret, startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let base: string;
let roomId: string;
before(async () => {
  h = await startHarness(import.meta.filename, { overrides: { ATTACHMENT_MAX_BYTES: 300_000 } });
  const address = h.app.http!.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  ({ roomId } = await h.call<{ roomId: string }>('uploader', 'createRoom', {
    name: 'Files',
    visibility: 'private',
  }));
  await h.register('friend');
  await h.call('uploader', 'inviteMember', { roomId, userId: 'friend' });
});
after(() => h.close());

const as = (userId: string) => ({ 'x-veche-actor': signActor({ userId, role: 'user' }, secret) });

function upload(
  userId: string | undefined,
  body: Blob,
  filename: string,
  room = roomId,
  headers: Record<string, string> = {},
) {
  const form = new FormData();
  form.append('file', body, filename);
  return fetch(`${base}/rooms/${room}/attachments`, {
    method: 'POST',
    body: form,
    headers: { ...(userId ? as(userId) : {}), ...headers },
  });
}

it('an image is stored with a thumbnail and only members download it', async () => {
  const png = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#3366cc' } })
    .png()
    .toBuffer();
  const response = await upload(
    'uploader',
    new Blob([new Uint8Array(png)], { type: 'image/png' }),
    '../../evil\u0001name.png',
  );
  assert.equal(response.status, 201);
  const attachment = (await response.json()) as {
    attachmentId: string;
    filename: string;
    size: number;
    hasThumbnail: boolean;
  };
  assert.equal(attachment.hasThumbnail, true);
  assert.equal(attachment.size, png.length);
  assert.equal(attachment.filename, 'evilname.png');
  const download = await fetch(`${base}/rooms/${roomId}/attachments/${attachment.attachmentId}`, {
    headers: as('friend'),
  });
  assert.equal(download.status, 200);
  assert.deepEqual(Buffer.from(await download.arrayBuffer()), png);
  assert.equal(download.headers.get('x-content-type-options'), 'nosniff');
  const thumb = await fetch(`${base}/rooms/${roomId}/attachments/${attachment.attachmentId}/thumbnail`, {
    headers: as('friend'),
  });
  assert.equal(thumb.headers.get('content-type'), 'image/webp');
  const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
  assert.equal(meta.width, 320);
  for (const [headers, status] of [
    [as('stranger'), 404],
    [{}, 401],
    [{ 'x-veche-actor': signActor({ userId: 'friend', role: 'user' }, 'another-secret-0123456789') }, 401],
    [{ 'x-veche-actor': signActor({ userId: 'friend', role: 'user' }, secret, -10) }, 401],
  ] as const) {
    const refused = await fetch(`${base}/rooms/${roomId}/attachments/${attachment.attachmentId}`, {
      headers,
    });
    assert.equal(refused.status, status);
    const body = (await refused.json()) as { error: { code: string } };
    assert.ok(body.error.code);
  }
  // Attached to a message: its metadata travels with the message.
  await h.call('uploader', 'postMessage', {
    roomId,
    text: 'a picture',
    idempotencyKey: 'p',
    attachments: [attachment.attachmentId],
  });
  const page = await h.call<{ messages: { attachments: { attachmentId: string }[] }[] }>(
    'friend',
    'listMessages',
    { roomId },
  );
  assert.equal(page.messages[0]!.attachments[0]!.attachmentId, attachment.attachmentId);
  // Nobody attaches a file they did not upload.
  await assert.rejects(
    h.call('friend', 'postMessage', {
      roomId,
      text: 'mine now',
      idempotencyKey: 'q',
      attachments: [attachment.attachmentId],
    }),
    (error: { code: string }) => error.code === 'validation',
  );
});

it('size, type and content limits; non-members cannot upload', async () => {
  const big = await upload(
    'uploader',
    new Blob([new Uint8Array(400_000)], { type: 'application/zip' }),
    'big.zip',
  );
  assert.equal(big.status, 400);
  assert.match(((await big.json()) as { error: { message: string } }).error.message, /too large/);
  const exe = await upload('uploader', new Blob(['MZ'], { type: 'application/x-msdownload' }), 'x.exe');
  assert.equal(exe.status, 400);
  const fake = await upload('uploader', new Blob(['not an image'], { type: 'image/png' }), 'fake.png');
  assert.equal(fake.status, 400);
  const outsider = await upload('stranger', new Blob(['hi'], { type: 'text/plain' }), 'hi.txt');
  assert.equal(outsider.status, 404);
  const badRoom = await upload('uploader', new Blob(['hi'], { type: 'text/plain' }), 'hi.txt', '..%2F..');
  assert.equal(badRoom.status, 400);
  const notMultipart = await fetch(`${base}/rooms/${roomId}/attachments`, {
    method: 'POST',
    body: '{}',
    headers: { ...as('uploader'), 'content-type': 'application/json' },
  });
  assert.equal(notMultipart.status, 400);
  // Unreadable multipart bodies are the client's fault (they were 500): no boundary, a part cut short.
  const noBoundary = await fetch(`${base}/rooms/${roomId}/attachments`, {
    method: 'POST',
    body: 'whatever',
    headers: { ...as('uploader'), 'content-type': 'multipart/form-data' },
  });
  assert.equal(noBoundary.status, 400);
  assert.equal(((await noBoundary.json()) as { error: { code: string } }).error.code, 'validation');
  const cutShort = await fetch(`${base}/rooms/${roomId}/attachments`, {
    method: 'POST',
    body:
      '--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n' +
      'Content-Type: text/plain\r\n\r\nthe body stops here',
    headers: { ...as('uploader'), 'content-type': 'multipart/form-data; boundary=b' },
  });
  assert.equal(cutShort.status, 400);
  const text = await upload('uploader', new Blob(['hello'], { type: 'text/plain' }), 'hello.txt');
  assert.equal(text.status, 201);
  assert.equal(((await text.json()) as { hasThumbnail: boolean }).hasThumbnail, false);
  const ready = await fetch(`${base}/ready`);
  assert.equal(ready.status, 200);
});

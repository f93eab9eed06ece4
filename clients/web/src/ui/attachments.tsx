/**
 * Attachments are behind the gateway's authentication, which `<img src>` cannot send: they are fetched
 * with the token and shown from an object URL.
 */
import { useEffect, useState } from 'react';
import { chat } from '../api/endpoints.ts';
import type { Attachment } from '../api/types.ts';
import { useSessionStore } from './context.tsx';

function useObjectUrl(path: string | undefined): string | undefined {
  const session = useSessionStore();
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    if (!path) return;
    let revoked = false;
    let objectUrl: string | undefined;
    const controller = new AbortController();
    void (async () => {
      try {
        const token = await session.freshToken();
        const response = await fetch(`/api${path}`, {
          headers: token ? { authorization: `Bearer ${token}` } : {},
          signal: controller.signal,
        });
        if (!response.ok || revoked) return;
        objectUrl = URL.createObjectURL(await response.blob());
        if (revoked) URL.revokeObjectURL(objectUrl);
        else setUrl(objectUrl);
      } catch {
        // Offline or aborted: the file name stays visible and a later render tries again.
      }
    })();
    return () => {
      revoked = true;
      controller.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [path, session]);
  return url;
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function AttachmentView({ roomId, attachment }: { roomId: string; attachment: Attachment }) {
  const isImage = attachment.contentType.startsWith('image/');
  const preview = useObjectUrl(
    isImage ? chat.attachmentPath(roomId, attachment.attachmentId, attachment.hasThumbnail) : undefined,
  );
  const session = useSessionStore();
  const open = async () => {
    const token = await session.freshToken();
    const response = await fetch(`/api${chat.attachmentPath(roomId, attachment.attachmentId)}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    if (!response.ok) return;
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement('a');
    link.href = url;
    link.download = attachment.filename;
    if (isImage) link.target = '_blank';
    link.click();
    window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  if (isImage) {
    return (
      <button
        type="button"
        className="attachment-image"
        onClick={() => void open()}
        title={attachment.filename}
      >
        {preview ? (
          <img src={preview} alt={attachment.filename} />
        ) : (
          <span className="attachment-placeholder">{attachment.filename}</span>
        )}
      </button>
    );
  }
  return (
    <button type="button" className="attachment-file" onClick={() => void open()}>
      <span aria-hidden="true">📎</span> {attachment.filename}{' '}
      <span className="muted">{formatSize(attachment.size)}</span>
    </button>
  );
}

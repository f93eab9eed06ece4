/**
 * Files chosen for the next message: each is uploaded as soon as it is added (picker, paste, or drop
 * anywhere on the room), and the message waits until every upload has ended.
 */
import { useCallback, useEffect, useState, type RefObject } from 'react';
import { chat } from '../../../api/endpoints.ts';
import type { Attachment } from '../../../api/types.ts';

export interface StagedFile {
  id: string;
  file: File;
  attachment?: Attachment;
  error?: unknown;
}

export function useStagedFiles(roomId: string, inside: RefObject<HTMLElement | null>) {
  const [staged, setStaged] = useState<StagedFile[]>([]);
  const [dragging, setDragging] = useState(false);

  const add = useCallback(
    (files: Iterable<File>) => {
      for (const file of files) {
        const id = crypto.randomUUID();
        setStaged((s) => [...s, { id, file }]);
        chat.upload(roomId, file).then(
          (attachment) => setStaged((s) => s.map((x) => (x.id === id ? { ...x, attachment } : x))),
          (error: unknown) => setStaged((s) => s.map((x) => (x.id === id ? { ...x, error } : x))),
        );
      }
    },
    [roomId],
  );

  // Drag and drop anywhere on the room.
  useEffect(() => {
    const room = inside.current?.closest('.room');
    if (!room) return;
    let depth = 0;
    const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth += 1;
      setDragging(true);
    };
    const over = (e: DragEvent) => {
      if (hasFiles(e)) e.preventDefault();
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      add(Array.from(e.dataTransfer?.files ?? []));
    };
    room.addEventListener('dragenter', enter as EventListener);
    room.addEventListener('dragover', over as EventListener);
    room.addEventListener('dragleave', leave);
    room.addEventListener('drop', drop as EventListener);
    return () => {
      room.removeEventListener('dragenter', enter as EventListener);
      room.removeEventListener('dragover', over as EventListener);
      room.removeEventListener('dragleave', leave);
      room.removeEventListener('drop', drop as EventListener);
    };
  }, [add, inside]);

  const remove = useCallback((id: string) => setStaged((s) => s.filter((x) => x.id !== id)), []);
  const clear = useCallback(() => setStaged([]), []);
  return {
    staged,
    dragging,
    add,
    remove,
    clear,
    /** Uploaded and ready to attach. */
    ready: staged.flatMap((s) => (s.attachment ? [s.attachment] : [])),
    uploading: staged.some((s) => !s.attachment && !s.error),
  };
}

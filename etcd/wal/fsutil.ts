// The few durable-write idioms the storage layer needs.

import { open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** Makes a directory entry change (create, rename, unlink) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** handle.write may write less than asked; loop until all of it is written. */
export async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('short write');
    done += bytesWritten;
  }
}

/**
 * Creates `dir/name` with `data` atomically: write to a temp file, fsync it,
 * rename over the final name, fsync the directory. A crash leaves either no
 * file or the complete file, never a partial one under the final name.
 * Returns the open handle when `keepOpen` (positioned writes continue to work
 * on the renamed file).
 */
type FileContent = Uint8Array | readonly Uint8Array[];

export async function createDurably(dir: string, name: string, data: FileContent, keepOpen: true): Promise<FileHandle>;
export async function createDurably(dir: string, name: string, data: FileContent, keepOpen?: false): Promise<undefined>;
export async function createDurably(dir: string, name: string, data: FileContent, keepOpen = false): Promise<FileHandle | undefined> {
  const tmp = path.join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'w+');
  try {
    let at = 0;
    for (const part of data instanceof Uint8Array ? [data] : data) {
      await writeAll(fh, part, at);
      at += part.length;
    }
    await fh.sync();
    await rename(tmp, path.join(dir, name));
    await fsyncDir(dir);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
  if (keepOpen) return fh;
  await fh.close();
  return undefined;
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

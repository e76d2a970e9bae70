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

/** Writes `parts` one after another from `position`, with one writev per 64 parts (under any IOV_MAX). */
export async function writeAllAt(fh: FileHandle, parts: readonly Uint8Array[], position: number): Promise<void> {
  let at = position;
  for (let i = 0; i < parts.length; i += 64) {
    const batch = parts.slice(i, i + 64);
    const size = batch.reduce((n, p) => n + p.length, 0);
    const { bytesWritten } = await fh.writev(batch, at);
    if (bytesWritten < size) {
      // A short write: finish what is left of each part on its own.
      let offset = 0;
      for (const p of batch) {
        const end = offset + p.length;
        if (end > bytesWritten) {
          const from = Math.max(0, bytesWritten - offset);
          await writeAll(fh, p.subarray(from), at + offset + from);
        }
        offset = end;
      }
    }
    at += size;
  }
}

/**
 * Creates `dir/name` with `data` (or what the `data` function writes) atomically: write to a temp file, fsync it,
 * rename over the final name, fsync the directory. A crash leaves either no
 * file or the complete file, never a partial one under the final name.
 * Returns the open handle when `keepOpen` (positioned writes continue to work
 * on the renamed file).
 */
type FileContent = Uint8Array | readonly Uint8Array[] | ((fh: FileHandle) => Promise<void>);

export async function createDurably(dir: string, name: string, data: FileContent, keepOpen: true): Promise<FileHandle>;
export async function createDurably(dir: string, name: string, data: FileContent, keepOpen?: false): Promise<undefined>;
export async function createDurably(dir: string, name: string, data: FileContent, keepOpen = false): Promise<FileHandle | undefined> {
  const tmp = path.join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'w+');
  try {
    if (typeof data === 'function') await data(fh);
    else await writeAllAt(fh, data instanceof Uint8Array ? [data] : data, 0);
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

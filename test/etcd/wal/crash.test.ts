// kill -9 in the middle of writing: every acknowledged entry must survive, and
// the log must reopen intact. The child runs the compiled module from dist/
// (`npm test` builds it first); without a build the test is skipped.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wal } from '../../../etcd/wal/wal.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = path.resolve(here, '../../../dist/etcd/wal/wal.js');
const fixture = path.join(here, 'fixtures', 'crash-writer.mjs');
const haveDist = existsSync(compiled);
if (!haveDist) console.warn(`skipping WAL crash test: ${compiled} is missing (run npm run build)`);

function dataFor(index: number): number[] {
  return Array.from({ length: index % 97 }, (_, k) => (index * 13 + k) & 0xff);
}

/** Runs the writer until it has acknowledged `acks` batches (or a deadline), then SIGKILLs it. */
async function runAndKill(dir: string, acks: number): Promise<{ maxAck: number; stderr: string }> {
  const child = spawn(process.execPath, [fixture, compiled, dir, '2048'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let maxAck = 0;
  let seen = 0;
  let stderr = '';
  let buffered = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = setTimeout(() => child.kill('SIGKILL'), 10_000);
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const l of lines) {
      maxAck = Math.max(maxAck, Number(l));
      if (++seen === acks) child.kill('SIGKILL');
    }
  });
  await exited;
  clearTimeout(deadline);
  // Acks still in the pipe when the child died were printed after their sync: count them.
  for (const l of buffered.split('\n')) if (l) maxAck = Math.max(maxAck, Number(l));
  return { maxAck, stderr };
}

describe.skipIf(!haveDist)('WAL crash safety (kill -9)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wal-crash-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged entry across repeated SIGKILLs', async () => {
    let everAcked = 0;
    let sawRelease = false;
    for (let round = 0; round < 5; round++) {
      const { maxAck, stderr } = await runAndKill(dir, 40 + Math.floor(Math.random() * 250));
      expect(stderr).not.toMatch(/Error/);
      everAcked = Math.max(everAcked, maxAck);
      const { wal, recovered } = await Wal.open(dir, { logger: () => undefined });
      try {
        const base = recovered.snapshot?.index ?? 0;
        if (base > 0) sawRelease = true;
        expect(base).toBeLessThanOrEqual(everAcked);
        const es = recovered.entries;
        expect(es[0]?.index ?? base + 1).toBe(base + 1);
        es.forEach((e, i) => {
          expect(e.index).toBe(base + 1 + i);
          expect(e.term).toBe(1);
          expect([...e.data]).toEqual(dataFor(e.index));
        });
        expect(Math.max(wal.lastIndex, base)).toBeGreaterThanOrEqual(everAcked);
        expect(recovered.hardState.commit).toBeGreaterThanOrEqual(everAcked);
      } finally {
        await wal.close();
      }
    }
    expect(everAcked).toBeGreaterThan(100);
    expect(sawRelease).toBe(true);
  });
});

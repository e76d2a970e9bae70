import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultConfig, type EtcdConfig } from '../../../etcd/config/flags.js';
import { EtcdError } from '../../../etcd/errors.js';
import { silentLogger } from '../../../etcd/server/logger.js';
import { EtcdServer, type EtcdServerOptions } from '../../../etcd/server/server.js';
import type { Compare, DeleteRangeRequest, RangeRequest, RequestOp, TxnRequest } from '../../../etcd/types.js';
import { rangeReq as mvccRangeReq } from '../mvcc/helpers.js';

export const b = (s: string): Buffer => Buffer.from(s);
export const ctx = {};

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'faultline-server-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function testConfig(dataDir: string, overrides: Partial<EtcdConfig> = {}): EtcdConfig {
  return defaultConfig({ dataDir, heartbeatIntervalMs: 10, electionTimeoutMs: 100, ...overrides });
}

/** A manually advanced clock for lease deadlines. */
export class ManualClock {
  t = 1_700_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export function openServer(dataDir: string, overrides: Partial<EtcdConfig> = {}, opts: Partial<EtcdServerOptions> = {}): Promise<EtcdServer> {
  const now = opts.now ?? Date.now;
  return EtcdServer.open({ config: testConfig(dataDir, overrides), logger: silentLogger, now, ...opts });
}

/** A single-key range with etcd's defaults; the MVCC tests' builder does the work. */
export function rangeReq(key: string, over: Partial<RangeRequest> = {}): RangeRequest {
  return mvccRangeReq(key, '', over);
}

export { putReq } from '../mvcc/helpers.js';

export function delReq(key: string, over: Partial<DeleteRangeRequest> = {}): DeleteRangeRequest {
  return { key: b(key), rangeEnd: Buffer.alloc(0), prevKv: false, ...over };
}

export function cmp(key: string, over: Partial<Compare>): Compare {
  return { result: 'EQUAL', target: 'VERSION', key: b(key), rangeEnd: Buffer.alloc(0), version: 0, createRevision: 0, modRevision: 0, value: Buffer.alloc(0), lease: 0n, ...over };
}

export function txnReq(compare: Compare[], success: RequestOp[], failure: RequestOp[] = []): TxnRequest {
  return { compare, success, failure };
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The EtcdError a request fails with; anything else (or success) fails the test. */
export async function errorOf(p: Promise<unknown>): Promise<EtcdError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EtcdError) return err;
    throw err;
  }
  throw new Error('expected an EtcdError');
}

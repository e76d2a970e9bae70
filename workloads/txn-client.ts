// Multi-key etcd transactions for the transactional workloads, on top of the
// thin client's raw Txn: reads of several keys at one revision, and writes
// guarded by each key's mod_revision (0 = the key must be absent), which is
// how a read-modify-write becomes atomic in etcd.
import type { EtcdClient } from '../harness/client/etcd-client.js';
import { hexId } from '../harness/client/etcd-client.js';

interface RawKv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
}

interface RawResponseOp {
  response_range?: { kvs?: RawKv[] } | null;
}

interface RawTxnResponse {
  header?: { revision?: string; member_id?: string };
  succeeded?: boolean;
  responses?: RawResponseOp[];
}

export interface KeyVersion {
  /** null when the key is absent. */
  value: string | null;
  /** 0 when the key is absent. */
  modRevision: number;
}

export interface TxnOutcome {
  succeeded: boolean;
  revision: number;
  memberId: string;
}

export type TxnStep = { get: string } | { put: string; value: string };

export interface TxnStepsResult extends TxnOutcome {
  /** One entry per step: the version read for get steps, null for puts. */
  results: (KeyVersion | null)[];
}

/** A Txn with no compares running the steps in order (gets see earlier puts of the same txn). */
export async function runSteps(client: EtcdClient, steps: readonly TxnStep[], opts: { serializable?: boolean } = {}): Promise<TxnStepsResult> {
  const res = await client.txnRaw<RawTxnResponse>({
    compare: [],
    success: steps.map((s) =>
      'get' in s
        ? { request_range: { key: Buffer.from(s.get), serializable: opts.serializable ?? false } }
        : { request_put: { key: Buffer.from(s.put), value: Buffer.from(s.value) } },
    ),
    failure: [],
  });
  const responses = res.responses ?? [];
  return {
    ...outcome(res),
    results: steps.map((s, i) => ('get' in s ? version(responses[i]?.response_range?.kvs?.[0]) : null)),
  };
}

/** Reads several keys at one revision. */
export async function readKeys(client: EtcdClient, keys: readonly string[], opts: { serializable?: boolean } = {}): Promise<{ versions: Map<string, KeyVersion> } & TxnOutcome> {
  const r = await runSteps(client, keys.map((k) => ({ get: k })), opts);
  const versions = new Map<string, KeyVersion>();
  keys.forEach((k, i) => versions.set(k, r.results[i]!));
  return { versions, succeeded: r.succeeded, revision: r.revision, memberId: r.memberId };
}

/** Puts the values if every guarded key still has the given mod_revision. */
export async function guardedPut(client: EtcdClient, guards: ReadonlyMap<string, number>, puts: ReadonlyMap<string, string>): Promise<TxnOutcome> {
  const res = await client.txnRaw<RawTxnResponse>({
    compare: [...guards].map(([key, mod]) => ({ result: 'EQUAL', target: 'MOD', key: Buffer.from(key), mod_revision: String(mod) })),
    success: [...puts].map(([key, value]) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } })),
    failure: [],
  });
  return outcome(res);
}

function outcome(res: RawTxnResponse): TxnOutcome {
  return { succeeded: Boolean(res.succeeded), revision: Number(res.header?.revision ?? 0), memberId: hexId(res.header?.member_id) };
}

function version(kv: RawKv | undefined): KeyVersion {
  return kv ? { value: kv.value.toString('utf8'), modRevision: Number(kv.mod_revision) } : { value: null, modRevision: 0 };
}

/** Lists of integers are stored as space-separated decimals; a token that is not one of ours becomes -1, which nobody wrote. */
export function encodeList(list: readonly number[]): string {
  return list.join(' ');
}

export function decodeList(text: string | null): number[] {
  if (text === null || text === '') return [];
  return text.split(' ').map((t) => {
    const n = Number(t);
    return t !== '' && Number.isSafeInteger(n) ? n : -1;
  });
}

export function decodeInt(text: string | null): number | null {
  if (text === null) return null;
  const n = Number(text);
  return text !== '' && Number.isSafeInteger(n) ? n : -1;
}

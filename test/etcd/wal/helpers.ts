// Builds WAL segment images in memory, the way the Wal class lays them out,
// so recovery can be driven on buffers.

import { RecordBuffer, type Entry, type HardState, type SnapshotMeta } from '../../../etcd/wal/records.js';
import { segmentFileName } from '../../../etcd/wal/segment.js';

export function entry(index: number, term = 1, size = (index * 7) % 23): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i * 17) & 0xff;
  return { index, term, type: index % 5 === 0 ? 'conf' : 'normal', data };
}

export function entries(from: number, to: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export type Rec =
  | { kind: 'entries'; entries: Entry[] }
  | { kind: 'hardState'; hs: HardState }
  | { kind: 'snapshot'; meta: SnapshotMeta }
  | { kind: 'metadata'; bytes: Uint8Array };

export interface BatchInfo {
  segment: number;
  start: number;
  end: number;
  /** End offset of each record of the batch, with the entries it carried. */
  records: { end: number; entries: Entry[] }[];
}

/** An in-memory WAL writer: segments of sealed batches. */
export class MemWal {
  readonly segments: { name: string; bytes: Buffer }[] = [];
  readonly batches: BatchInfo[] = [];
  private lastCrc = 0;
  private seq = 0;

  constructor(firstIndex = 1) {
    this.newSegment(firstIndex);
  }

  newSegment(firstIndex: number, header: Rec[] = []): void {
    const rb = new RecordBuffer(64);
    rb.appendCrc({ seq: this.seq, firstIndex });
    for (const r of header) append(rb, r);
    const { bytes, lastCrc } = rb.seal(this.lastCrc);
    this.lastCrc = lastCrc;
    this.segments.push({ name: segmentFileName(this.seq, firstIndex), bytes: Buffer.from(bytes) });
    this.seq++;
  }

  batch(recs: Rec[]): BatchInfo {
    const rb = new RecordBuffer(64);
    const seg = this.segments[this.segments.length - 1]!;
    const start = seg.bytes.length;
    const ends: { end: number; entries: Entry[] }[] = [];
    for (const r of recs) {
      if (r.kind === 'entries') {
        for (const e of r.entries) {
          rb.appendEntry(e);
          ends.push({ end: start + rb.length, entries: [e] });
        }
      } else {
        append(rb, r);
        ends.push({ end: start + rb.length, entries: [] });
      }
    }
    const { bytes, lastCrc } = rb.seal(this.lastCrc);
    this.lastCrc = lastCrc;
    seg.bytes = Buffer.concat([seg.bytes, bytes]);
    const info = { segment: this.segments.length - 1, start, end: seg.bytes.length, records: ends };
    this.batches.push(info);
    return info;
  }

  copy(): { name: string; bytes: Buffer }[] {
    return this.segments.map((s) => ({ name: s.name, bytes: Buffer.from(s.bytes) }));
  }
}

function append(rb: RecordBuffer, r: Rec): void {
  switch (r.kind) {
    case 'entries':
      for (const e of r.entries) rb.appendEntry(e);
      return;
    case 'hardState':
      rb.appendHardState(r.hs);
      return;
    case 'snapshot':
      rb.appendSnapshot(r.meta);
      return;
    case 'metadata':
      rb.appendMetadata(r.bytes);
      return;
  }
}

export function snap(index: number, term = 1): SnapshotMeta {
  return { index, term, confState: { voters: ['0000000000000001', '00000000000000ab'], learners: [] } };
}

/** Plain objects for comparison: Uint8Array vs Buffer never matters to callers. */
export function plain(es: readonly Entry[]): { index: number; term: number; type: string; data: number[] }[] {
  return es.map((e) => ({ index: e.index, term: e.term, type: e.type, data: [...e.data] }));
}

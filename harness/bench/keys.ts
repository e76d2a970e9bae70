// Keys and values for the load. A key is its index in the key space as
// zero-padded decimal, exactly --key-size bytes (after an optional prefix),
// so reads hit the keys the preload wrote. Values are slices of a random
// buffer: random bytes without paying for fresh randomness per request.
import { randomBytes } from 'node:crypto';

export function keyAt(index: number, keySize: number, prefix = ''): Buffer {
  return Buffer.from(prefix + String(index).padStart(keySize - prefix.length, '0'));
}

export class KeyChooser {
  private nextSeq = 0;

  constructor(
    private readonly keySpace: number,
    private readonly keySize: number,
    private readonly sequential: boolean,
    private readonly prefix = '',
    private readonly random: () => number = Math.random,
  ) {}

  nextIndex(): number {
    if (this.sequential) {
      const i = this.nextSeq;
      this.nextSeq = (this.nextSeq + 1) % this.keySpace;
      return i;
    }
    return Math.floor(this.random() * this.keySpace);
  }

  next(): Buffer {
    return keyAt(this.nextIndex(), this.keySize, this.prefix);
  }
}

const POOL_SLACK = 4096;

export class ValueSource {
  private readonly pool: Buffer;

  constructor(private readonly size: number) {
    this.pool = randomBytes(size + POOL_SLACK);
  }

  /** A fresh Buffer view of `size` random bytes at a random offset. */
  next(): Buffer {
    const off = Math.floor(Math.random() * POOL_SLACK);
    return this.pool.subarray(off, off + this.size);
  }

  /** A copy whose first 8 bytes carry `stampMs` (float64, little-endian): watch-fanout's start time. */
  stamped(stampMs: number): Buffer {
    const v = Buffer.from(this.next());
    v.writeDoubleLE(stampMs, 0);
    return v;
  }
}

export function readStamp(value: Buffer | undefined): number | undefined {
  if (!value || value.length < 8) return undefined;
  return value.readDoubleLE(0);
}

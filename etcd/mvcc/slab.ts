// Memory for the store's keys and values: small byte strings are copied into
// shared 64 KiB slabs instead of each getting an ArrayBuffer of its own.
//
// Why: a stored value used to be one ArrayBuffer, with its malloc'd backing
// store and the extension V8 tracks for it. Under 1000 writers the CPU spent
// marking those, sweeping their extensions and in malloc and free was about
// as large as all of the MVCC store's own code. A view into a slab is a
// plain typed array over memory the slab already owns.
//
// The price is that a slab lives as long as any byte string in it. Values
// die only when compaction drops their revisions (history is kept until
// then), so that is when the store tidies up (MvccStore.tidySlabs, in
// slices after each compaction): it counts the bytes still referenced in
// every slab that was full when the count began and copies the survivors of
// slabs less than half used into the current one. After a tidy-up, slab
// memory is at most twice what is referenced, plus the slabs filled since.
//
// Slab sizes double from 64 KiB up to 32 MiB, so that a busy store's memory
// goes back to the system when compaction frees it. glibc's malloc serves
// requests below its mmap threshold from the process heap, and memory freed
// there stays with the process: under a steady write load with compaction,
// 64 KiB slabs kept every member's resident size at its highest point so far
// and let it creep up from one compaction to the next (fragmentation). The
// threshold adapts to what is freed but never exceeds 32 MiB on 64-bit
// systems, so a 32 MiB slab is always mapped on its own and unmapped when it
// is freed. A small store (tests, the simulator's members) keeps small slabs.

/** Size of a store's first slab. */
export const FIRST_SLAB_BYTES = 64 * 1024;
/** Slabs double in size up to this one; see above for why 32 MiB. */
export const LARGEST_SLAB_BYTES = 32 * 1024 * 1024;

/**
 * A copy of `b` in memory of its own. For byte strings too long for a slab,
 * and for anything kept apart from the store's slabs.
 */
function ownedCopy(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  out.set(b);
  return out;
}

const NOTHING = Buffer.alloc(0);

export class ByteSlabs {
  private current: Buffer | undefined;
  private used = 0;
  /** Slabs opened so far. */
  opened = 0;
  /** Each slab's opening number; weak, so a slab nothing refers to is still freed. */
  private readonly seq = new WeakMap<ArrayBufferLike, number>();

  /** Slab sizes start at firstSlabBytes and double up to largestSlabBytes (equal: every slab the same size). */
  constructor(
    readonly firstSlabBytes = FIRST_SLAB_BYTES,
    readonly largestSlabBytes = Math.max(firstSlabBytes, LARGEST_SLAB_BYTES),
  ) {
    for (const n of [firstSlabBytes, largestSlabBytes]) {
      if (!Number.isInteger(n) || n < 8) throw new RangeError(`slab size must be an integer of at least 8 bytes, not ${n}`);
    }
    if (largestSlabBytes < firstSlabBytes) throw new RangeError(`largest slab size ${largestSlabBytes} is below the first slab size ${firstSlabBytes}`);
  }

  /** A copy of `b` that the store may keep: in the current slab, or of its own when long. */
  copy(b: Uint8Array): Buffer {
    const n = b.length;
    if (n === 0) return NOTHING;
    let slab = this.current;
    // Longer byte strings get memory of their own: a slab holds at least
    // eight. Whatever is short enough for this slab also fits a fresh next
    // one, which is never smaller.
    if (n * 8 > (slab === undefined ? this.firstSlabBytes : slab.length)) return ownedCopy(b);
    if (slab === undefined || this.used + n > slab.length) slab = this.open(slab);
    const out = slab.subarray(this.used, this.used + n);
    out.set(b);
    this.used += n;
    return out;
  }

  /** Opens the slab after `last`: twice its size, up to the largest. */
  private open(last: Buffer | undefined): Buffer {
    const bytes = last === undefined ? this.firstSlabBytes : Math.min(this.largestSlabBytes, last.length * 2);
    const slab = Buffer.allocUnsafeSlow(bytes);
    this.current = slab;
    this.used = 0;
    this.seq.set(slab.buffer, this.opened++);
    return slab;
  }

  /**
   * Starts counting how much of each slab is still referenced. Only slabs
   * that are full now take part: the current one and any opened later keep
   * filling while the count runs in slices, so their counts would be partial.
   */
  census(): SlabCensus {
    const before = this.opened - 1;
    return new SlabCensus((b) => {
      const n = this.seq.get(b.buffer);
      return n !== undefined && n < before ? b.buffer : undefined;
    });
  }
}

/** Bytes still referenced per full slab; then, which slabs are worth emptying. */
export class SlabCensus {
  private readonly inUse = new Map<ArrayBufferLike, number>();
  private sparse: Set<ArrayBufferLike> | undefined;

  constructor(private readonly slabOf: (b: Uint8Array) => ArrayBufferLike | undefined) {}

  /** Counts one reference to `b`. Call once per distinct byte string (shared ones once). */
  add(b: Uint8Array): void {
    const slab = this.slabOf(b);
    if (slab !== undefined) this.inUse.set(slab, (this.inUse.get(slab) ?? 0) + b.length);
  }

  /**
   * Ends the count: returns how many full slabs are less than half in use.
   * Their byte strings should then be copied out (shouldMove) so the slabs
   * can be freed.
   */
  close(): number {
    this.sparse = new Set();
    for (const [slab, bytes] of this.inUse) if (bytes * 2 < slab.byteLength) this.sparse.add(slab);
    return this.sparse.size;
  }

  /** After close(): whether `b` sits in one of the slabs to empty. */
  shouldMove(b: Uint8Array): boolean {
    if (this.sparse === undefined) throw new Error('SlabCensus.shouldMove before close()');
    const slab = this.slabOf(b);
    return slab !== undefined && this.sparse.has(slab);
  }
}

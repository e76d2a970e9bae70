// Lease IDs the way etcd's idutil.Generator makes them: the low 16 bits of
// the member ID in the top two bytes, then a 48-bit counter seeded with the
// low 40 bits of a millisecond timestamp shifted left by 8, so two members
// (or one member across restarts) do not hand out the same IDs. etcd masks
// the result to 63 bits so it is a positive int64, and skips 0 (NoLease).
// The seed is passed in so the sequence is reproducible.

const MASK_48 = (1n << 48n) - 1n;
const MASK_40 = (1n << 40n) - 1n;
const MASK_63 = (1n << 63n) - 1n;

export class LeaseIdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  /** seedMs: etcd uses the wall clock at server start; any number makes the sequence deterministic. */
  constructor(memberId: bigint, seedMs: number) {
    this.prefix = BigInt.asUintN(16, memberId) << 48n;
    this.suffix = (BigInt.asUintN(64, BigInt(Math.trunc(seedMs))) & MASK_40) << 8n;
  }

  next(): bigint {
    for (;;) {
      this.suffix = BigInt.asUintN(64, this.suffix + 1n);
      const id = (this.prefix | (this.suffix & MASK_48)) & MASK_63;
      if (id !== 0n) return id;
    }
  }
}

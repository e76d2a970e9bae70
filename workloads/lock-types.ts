// History values of the lock workloads.

/** f 'incr': take the lock, increment the counter, release. */
export interface LockIncr {
  /** Lease id, decimal. */
  lease?: string;
  lockKey?: string;
  /** The lock key's create revision: the fencing token. */
  token?: number;
  /** The counter as read inside the critical section, and as written. */
  read?: number;
  wrote?: number;
  /** Monotonic ns (one clock for the whole harness process) on entering and leaving the critical section. */
  enteredNs?: number;
  leftNs?: number;
  /** etcd mode: revision of the fenced counter write. */
  counterRevision?: number;
  /** The keepalive stream reported the lease gone while the lock was held. */
  leaseLost?: boolean;
  /** Where an unsuccessful attempt stopped. */
  stage?: 'lease' | 'acquire' | 'wait' | 'critical';
  releaseError?: string;
}

/** f 'read': the counter's final value. */
export interface LockRead {
  value?: number;
}

export type LockValue = LockIncr | LockRead;

// Turning a failed call into a history outcome. "fail" is a promise that the
// operation did not and will not take effect; anything we cannot promise is
// "info". Reads have no effect, so any failed read is a fail (as in Jepsen).
import { status as Status, type ServiceError } from '@grpc/grpc-js';

export interface ErrorOutcome {
  type: 'fail' | 'info';
  error: string;
}

/** Codes etcd returns only when it rejected the request before proposing it. */
const DEFINITE_CODES = new Set<number>([
  Status.INVALID_ARGUMENT,
  Status.OUT_OF_RANGE, // compacted, future revision, lease TTL too large
  Status.NOT_FOUND,
  Status.ALREADY_EXISTS,
  Status.FAILED_PRECONDITION,
  Status.PERMISSION_DENIED,
  Status.UNAUTHENTICATED,
  Status.UNIMPLEMENTED,
]);

/** etcd messages that mean "rejected before it reached raft". */
const DEFINITE_MESSAGES = [
  'etcdserver: too many requests',
  'etcdserver: mvcc: database space exceeded',
  'etcdserver: not capable',
];

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number';
}

/**
 * grpc-js fails a call locally, without sending anything, when the channel
 * has no connection (the member is down); that is definite.
 */
function neverSent(err: ServiceError): boolean {
  return err.code === Status.UNAVAILABLE && /^No connection established/.test(err.details ?? '');
}

export function classifyError(err: unknown, idempotent: boolean): ErrorOutcome {
  const text = describeError(err);
  if (idempotent) return { type: 'fail', error: text };
  if (!isServiceError(err)) return { type: 'info', error: text };
  if (DEFINITE_CODES.has(err.code) || neverSent(err)) return { type: 'fail', error: text };
  if (DEFINITE_MESSAGES.some((m) => (err.details ?? '').includes(m))) return { type: 'fail', error: text };
  return { type: 'info', error: text };
}

export function describeError(err: unknown): string {
  if (isServiceError(err)) {
    const name = Object.entries(Status).find(([, v]) => v === err.code)?.[0] ?? String(err.code);
    return `${name}: ${err.details || err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

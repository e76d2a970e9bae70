// Mapping of thrown errors to gRPC statuses. EtcdErrors keep etcd's code and
// exact message (clients match on the text); anything else is a server bug,
// reported as Unknown the way grpc-go reports a plain error.

import { EtcdError, GrpcCode } from '../errors.js';

export interface StatusLike {
  code: number;
  details: string;
}

export function toStatus(err: unknown): StatusLike {
  if (err instanceof EtcdError) return { code: err.code, details: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: GrpcCode.UNKNOWN, details: message };
}

/** HTTP statuses grpc-gateway uses for each gRPC code. */
export function httpStatusFor(code: number): number {
  switch (code) {
    case GrpcCode.OK:
      return 200;
    case GrpcCode.CANCELLED:
      return 408;
    case GrpcCode.INVALID_ARGUMENT:
    case GrpcCode.FAILED_PRECONDITION:
    case GrpcCode.OUT_OF_RANGE:
      return 400;
    case GrpcCode.DEADLINE_EXCEEDED:
      return 504;
    case GrpcCode.NOT_FOUND:
      return 404;
    case GrpcCode.ALREADY_EXISTS:
    case GrpcCode.ABORTED:
      return 409;
    case GrpcCode.PERMISSION_DENIED:
      return 403;
    case GrpcCode.UNAUTHENTICATED:
      return 401;
    case GrpcCode.RESOURCE_EXHAUSTED:
      return 429;
    case GrpcCode.UNIMPLEMENTED:
      return 501;
    case GrpcCode.UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

// etcd's error vocabulary. Clients match on the exact message text, so every
// message here is the one etcd sends (api/v3rpc/rpctypes), and every code the
// gRPC status etcd attaches to it.

export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeValue = (typeof GrpcCode)[keyof typeof GrpcCode];

/** An error that crosses the API boundary with etcd's code and message. */
export class EtcdError extends Error {
  constructor(
    readonly code: GrpcCodeValue,
    message: string,
  ) {
    super(message);
    this.name = 'EtcdError';
  }
}

const e = (code: GrpcCodeValue, message: string) => () => new EtcdError(code, message);

/** Factories rather than shared instances so every throw has its own stack. */
export const Errors = {
  emptyKey: e(GrpcCode.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  keyNotFound: e(GrpcCode.INVALID_ARGUMENT, 'etcdserver: key not found'),
  valueProvided: e(GrpcCode.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  leaseProvided: e(GrpcCode.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  tooManyOps: e(GrpcCode.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  duplicateKey: e(GrpcCode.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  requestTooLarge: e(GrpcCode.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  compacted: e(GrpcCode.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  futureRev: e(GrpcCode.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  leaseTTLTooLarge: e(GrpcCode.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  noSpace: e(GrpcCode.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
  tooManyRequests: e(GrpcCode.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),
  leaseNotFound: e(GrpcCode.NOT_FOUND, 'etcdserver: requested lease not found'),
  leaseExists: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  memberNotFound: e(GrpcCode.NOT_FOUND, 'etcdserver: member not found'),
  memberExists: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  peerURLExists: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  memberNotLearner: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  learnerNotReady: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'),
  tooManyLearners: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),
  unhealthyCluster: e(GrpcCode.UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  authNotEnabled: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  rootUserNotExist: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  permissionDenied: e(GrpcCode.PERMISSION_DENIED, 'etcdserver: permission denied'),
  noLeader: e(GrpcCode.UNAVAILABLE, 'etcdserver: no leader'),
  leaderChanged: e(GrpcCode.UNAVAILABLE, 'etcdserver: leader changed'),
  notCapable: e(GrpcCode.UNAVAILABLE, 'etcdserver: not capable'),
  stopped: e(GrpcCode.UNAVAILABLE, 'etcdserver: server stopped'),
  timeout: e(GrpcCode.UNAVAILABLE, 'etcdserver: request timed out'),
  timeoutDueToLeaderFail: e(GrpcCode.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'),
  timeoutDueToConnectionLost: e(GrpcCode.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'),
  badLeaderTransferee: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
  notLeader: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: not leader'),
  corrupt: e(GrpcCode.DATA_LOSS, 'etcdserver: corrupt cluster'),
  notEnoughStartedMembers: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: re-configuration failed due to not enough started members'),
  timeoutLeaderTransfer: e(GrpcCode.UNAVAILABLE, 'etcdserver: request timed out, leader transfer took too long'),
  notSupportedForLearner: e(GrpcCode.FAILED_PRECONDITION, 'etcdserver: rpc not supported for learner'),
} as const;

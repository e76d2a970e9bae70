// Watch streams with etcd's refusals layered on top of the watch hub:
// streams opened with the hasleader metadata fail with "etcdserver: no leader"
// once the cluster has gone without a leader for a while (every live watcher
// gets a cancel with that reason, and new watches are refused), and a learner
// refuses watches altogether.

import { Errors } from '../errors.js';
import type { ResponseHeader, WatchResponseOut, WatchStream } from './backend.js';

export interface WatchGuards {
  requireLeader: boolean;
  hasLeader: () => boolean;
  isLearner: () => boolean;
  header: () => ResponseHeader;
  /** Registers the stream's abort so the leader monitor can fire it; returns the unregister function. */
  register: (abort: () => void) => () => void;
}

export function guardWatchStream(open: (onResponse: (res: WatchResponseOut) => void) => WatchStream, onResponse: (res: WatchResponseOut) => void, g: WatchGuards): WatchStream {
  const live = new Set<number>();
  let aborted = false;
  const inner = open((res) => {
    if (aborted) return;
    if (res.canceled) live.delete(res.watchId);
    else if (res.created) live.add(res.watchId);
    onResponse(res);
  });
  const refusal = (watchId: number, reason: string, created: boolean): WatchResponseOut => ({
    header: g.header(),
    watchId,
    created,
    canceled: true,
    compactRevision: 0,
    cancelReason: reason,
    fragment: false,
    events: [],
  });
  let unregister = (): void => {};
  const abort = (): void => {
    if (aborted) return;
    aborted = true;
    unregister();
    inner.close();
    for (const id of live) onResponse(refusal(id, Errors.noLeader().message, false));
    live.clear();
  };
  if (g.requireLeader) unregister = g.register(abort);
  return {
    create: (req) => {
      // A refused create answers like etcd's: created and canceled at once, watch ID -1, with the reason.
      if (g.isLearner()) onResponse(refusal(-1, Errors.notSupportedForLearner().message, true));
      else if (aborted || (g.requireLeader && !g.hasLeader())) onResponse(refusal(-1, Errors.noLeader().message, true));
      else inner.create(req);
    },
    cancel: (watchId) => {
      if (!aborted) inner.cancel(watchId);
    },
    requestProgress: () => {
      if (!aborted) inner.requestProgress();
    },
    setWritable: (w) => inner.setWritable(w),
    close: () => {
      aborted = true;
      unregister();
      inner.close();
    },
  };
}

// Drives a workload against live clients the way the WorkerPool does, but in
// process and for a fixed time, recording the history for a checker.
import type { EtcdClient } from '../../harness/client/etcd-client.js';
import type { Op } from '../../harness/history.js';
import type { Invocation, Workload } from '../../workloads/types.js';

export async function drive<V>(workload: Workload<V>, clients: EtcdClient[], ms: number, opts: { pauseMs?: number } = {}): Promise<Op[]> {
  const history: Op[] = [];
  const t0 = process.hrtime.bigint();
  const now = () => Number(process.hrtime.bigint() - t0);
  const processes = clients.map((_, i) => i);
  const run = async (w: number, op: Invocation<V>) => {
    const process = processes[w]!;
    history.push({ index: history.length, type: 'invoke', process, f: op.f, value: op.value, time: now() });
    const c = await workload.invoke(clients[w]!, op);
    const done: Op = { index: history.length, type: c.type, process, f: op.f, value: c.value, time: now() };
    if (c.revision !== undefined) done.revision = c.revision;
    if (c.error !== undefined) done.error = c.error;
    history.push(done);
    if (c.type === 'info') processes[w] = process + clients.length;
  };
  const deadline = Date.now() + ms;
  await Promise.all(
    clients.map(async (_, w) => {
      while (Date.now() < deadline) {
        const op = workload.next();
        if (op === null) break;
        await run(w, op);
        await new Promise((r) => setTimeout(r, opts.pauseMs ?? 5));
      }
    }),
  );
  const finals = workload.finalReads();
  await Promise.all(
    clients.map(async (_, w) => {
      for (let k = w; k < finals.length; k += clients.length) await run(w, finals[k]!);
    }),
  );
  return history;
}

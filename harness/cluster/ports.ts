// Ports for members and proxies: below the kernel's ephemeral range
// (32768–60999 here), so an outgoing connection never takes a port a member
// is about to listen on. A block is chosen from a seeded/random start and each
// port is probed by binding it.
import { createServer } from 'node:net';

export const PORT_FLOOR = 20000;
export const PORT_CEILING = 32767;

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Finds `count` consecutive free ports in [floor, ceiling], starting the scan
 * at `start` (wrapping around). Consecutive ports make logs easy to read.
 */
export async function findFreePortBlock(count: number, start: number, floor = PORT_FLOOR, ceiling = PORT_CEILING): Promise<number> {
  const span = ceiling - floor + 1;
  if (count > span) throw new Error(`cannot fit ${count} ports in ${floor}-${ceiling}`);
  let base = floor + ((((start - floor) % span) + span) % span);
  for (let attempt = 0; attempt < 200; attempt++) {
    if (base + count - 1 > ceiling) base = floor;
    let ok = true;
    for (let p = base; p < base + count; p++) {
      if (!(await isPortFree(p))) {
        ok = false;
        base = p + 1;
        break;
      }
    }
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports found in ${floor}-${ceiling}`);
}

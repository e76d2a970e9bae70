import { describe, expect, it } from 'vitest';
import { CleanupRegistry } from '../../harness/cleanup.js';

describe('CleanupRegistry', () => {
  it('runs steps newest first, once, and goes on past failures', async () => {
    const r = new CleanupRegistry();
    const order: string[] = [];
    r.add('network', () => {
      order.push('network');
    });
    r.add('cluster', async () => {
      await new Promise((res) => setTimeout(res, 5));
      order.push('cluster');
    });
    r.add('broken', () => {
      throw new Error('boom');
    });
    const [a, b] = await Promise.all([r.runAll(), r.runAll()]);
    expect(order).toEqual(['cluster', 'network']);
    expect(a).toEqual(['broken: boom']);
    expect(b).toBe(a);
    expect(r.size).toBe(0);
    expect(await r.runAll()).toEqual([]);
    expect(order).toEqual(['cluster', 'network']);
  });

  it('skips steps that were unregistered after a normal release', async () => {
    const r = new CleanupRegistry();
    let ran = false;
    const remove = r.add('x', () => {
      ran = true;
    });
    remove();
    await r.runAll();
    expect(ran).toBe(false);
  });

  it('gives up on a step that hangs, and still runs the rest', async () => {
    const r = new CleanupRegistry();
    let later = false;
    r.add('first', () => {
      later = true;
    });
    r.add('hang', () => new Promise(() => undefined));
    const errors = await r.runAll(50);
    expect(errors[0]).toMatch(/hang: cleanup timed out/);
    expect(later).toBe(true);
  });
});

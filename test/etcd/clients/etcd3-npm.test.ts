// The npm etcd3 client against a single member: the calls Node users make.
// Runs against faultline-etcd (and, with FAULTLINE_REFERENCE=etcd, against
// real etcd, to check the test itself).

import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OURS_BUILT, startServer, which, type RunningServer } from '../../support/servers.js';

const kind = process.env['FAULTLINE_REFERENCE'] === 'etcd' ? 'etcd' : 'ours';
const reason =
  kind === 'ours' && !OURS_BUILT ? 'faultline-etcd is not built (run npm run build)' : kind === 'etcd' && !which('etcd') ? 'etcd is not installed' : undefined;
if (reason) console.log(`skipping the etcd3 npm client test: ${reason}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(reason !== undefined)(`npm etcd3 client against ${kind}`, () => {
  let server: RunningServer;
  let client: Etcd3;

  beforeAll(async () => {
    server = await startServer({ kind });
    client = new Etcd3({ hosts: `http://${server.endpoint}` });
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
    server?.cleanup();
  });

  it('puts, gets, counts and deletes by prefix', async () => {
    await client.put('app/a').value('1');
    await client.put('app/b').value('2');
    await client.put('other').value('x');
    expect(await client.get('app/a').string()).toBe('1');
    expect(await client.getAll().prefix('app/').strings()).toEqual({ 'app/a': '1', 'app/b': '2' });
    expect(await client.getAll().prefix('app/').count()).toBe(2);
    expect(await client.getAll().prefix('app/').keys()).toEqual(['app/a', 'app/b']);
    await client.delete().prefix('app/');
    expect(await client.getAll().prefix('app/').count()).toBe(0);
    expect(await client.get('other').string()).toBe('x');
  });

  it('does compare-and-swap transactions and create-if-absent on mod revision 0', async () => {
    const created = await client.if('cas', 'Mod', '==', 0).then(client.put('cas').value('v1')).commit();
    expect(created.succeeded).toBe(true);
    const again = await client.if('cas', 'Mod', '==', 0).then(client.put('cas').value('v2')).commit();
    expect(again.succeeded).toBe(false);
    const swapped = await client
      .if('cas', 'Value', '==', 'v1')
      .then(client.put('cas').value('v3'))
      .else(client.get('cas'))
      .commit();
    expect(swapped.succeeded).toBe(true);
    const failed = await client.if('cas', 'Value', '==', 'v1').then(client.put('cas').value('nope')).else(client.get('cas')).commit();
    expect(failed.succeeded).toBe(false);
    expect(failed.responses[0]!.response_range!.kvs[0]!.value.toString()).toBe('v3');
  });

  it('reports revisions that grow by one per write', async () => {
    const r1 = await client.put('rev').value('a').exec();
    const r2 = await client.put('rev').value('b').exec();
    expect(Number(r2.header.revision)).toBe(Number(r1.header.revision) + 1);
    const kv = (await client.get('rev').exec()).kvs[0]!;
    expect(Number(kv.mod_revision)).toBe(Number(r2.header.revision));
    expect(Number(kv.create_revision)).toBe(Number(r1.header.revision));
    expect(kv.version).toBe('2');
  });

  it('watches live and from a past revision', async () => {
    const first = await client.put('w/key').value('old').exec();
    const seen: string[] = [];
    const watcher = await client.watch().prefix('w/').create();
    watcher.on('put', (kv) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
    watcher.on('delete', (kv) => seen.push(`delete ${kv.key.toString()}`));
    await client.put('w/key').value('new');
    await client.delete().key('w/key');
    for (let i = 0; i < 50 && seen.length < 2; i++) await sleep(50);
    await watcher.cancel();
    expect(seen).toEqual(['put w/key=new', 'delete w/key']);

    const replay: string[] = [];
    const past = await client.watch().key('w/key').startRevision(first.header.revision).create();
    past.on('put', (kv) => replay.push(kv.value.toString()));
    past.on('delete', () => replay.push('<deleted>'));
    for (let i = 0; i < 50 && replay.length < 3; i++) await sleep(50);
    await past.cancel();
    expect(replay).toEqual(['old', 'new', '<deleted>']);
  });

  it('expires a lease and deletes its keys; keep-alive keeps one alive', async () => {
    const short = client.lease(2, { autoKeepAlive: false });
    await short.put('leased/short').value('x');
    const kept = client.lease(2);
    await kept.put('leased/kept').value('y');
    expect(await client.get('leased/short').string()).toBe('x');
    await sleep(4500);
    expect(await client.get('leased/short').string()).toBeNull();
    expect(await client.get('leased/kept').string()).toBe('y');
    await kept.revoke();
    expect(await client.get('leased/kept').string()).toBeNull();
  }, 20_000);

  it('holds a lock exclusively until it is released', async () => {
    // etcd3's lock is a try-lock: a second acquire fails while the first holds it.
    const first = client.lock('the-lock').ttl(5);
    await first.acquire();
    await expect(client.lock('the-lock').ttl(5).acquire()).rejects.toThrow(/Failed to acquire a lock/);
    await first.release();
    const second = client.lock('the-lock').ttl(5);
    await second.acquire();
    await second.release();
  }, 20_000);

  it('elects a leader and hands over on resign', async () => {
    const election = client.election('the-election', 5);
    const a = election.campaign('a');
    await new Promise<void>((resolve, reject) => {
      a.on('elected', () => resolve());
      a.on('error', reject);
    });
    expect(await election.leader()).toBe('a');
    const b = election.campaign('b');
    const bElected = new Promise<void>((resolve, reject) => {
      b.on('elected', () => resolve());
      b.on('error', reject);
    });
    await a.resign();
    await bElected;
    expect(await election.leader()).toBe('b');
    await b.resign();
  }, 20_000);

  it('rejects a 2 MB value with etcd\'s error', async () => {
    await expect(client.put('big').value(Buffer.alloc(2_000_000, 97))).rejects.toThrow(/request is too large/);
  });
});

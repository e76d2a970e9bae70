// Runs the faultline CLI in-process with captured output, as the CLI tests need.
import { PassThrough } from 'node:stream';
import { main } from '../../harness/cli/main.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** main(argv) with stdout and stderr captured; with mergeErr, stderr goes into `out` too (in order). */
export async function runCli(argv: string[], opts: { mergeErr?: boolean } = {}): Promise<CliRun> {
  const out = new PassThrough();
  const err = opts.mergeErr ? out : new PassThrough();
  let outText = '';
  let errText = '';
  out.on('data', (d: Buffer) => (outText += d.toString()));
  if (err !== out) err.on('data', (d: Buffer) => (errText += d.toString()));
  const code = await main(argv, { out: out as unknown as NodeJS.WriteStream, err: err as unknown as NodeJS.WriteStream, installHooks: false });
  // Let the streams deliver what was written last.
  await new Promise((r) => setImmediate(r));
  return { code, out: outText, err: errText };
}

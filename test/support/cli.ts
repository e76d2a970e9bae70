// Runs the faultline CLI (or one of its commands) in-process with captured output.
import { PassThrough } from 'node:stream';
import { main } from '../../harness/cli/main.js';

/** A stream to hand to the CLI as stdout or stderr, and what was written to it so far. */
export function captureStream(): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return { stream: s as unknown as NodeJS.WriteStream, text: () => text };
}

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** main(argv) with stdout and stderr captured; with mergeErr, stderr goes into `out` too (in order). */
export async function runCli(argv: string[], opts: { mergeErr?: boolean } = {}): Promise<CliRun> {
  const out = captureStream();
  const err = opts.mergeErr ? out : captureStream();
  const code = await main(argv, { out: out.stream, err: err.stream, installHooks: false });
  // Let the streams deliver what was written last.
  await new Promise((r) => setImmediate(r));
  return { code, out: out.text(), err: err === out ? '' : err.text() };
}

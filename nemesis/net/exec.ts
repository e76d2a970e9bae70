// Runs the ip/iptables commands the namespace mechanism needs.

import { execFile } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
  ) {
    super(`${argv.join(' ')} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

/** Runs argv without a shell; resolves with the exit code instead of throwing. */
export function runCommand(argv: readonly string[], timeoutMs = 15_000): Promise<CommandResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error('empty command'));
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ stdout: String(stdout), stderr: String(stderr) || (err && code !== 0 ? err.message : ''), code });
    });
  });
}

/** Runs argv and throws CommandError on a non-zero exit. */
export async function mustRun(argv: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await runCommand(argv, timeoutMs);
  if (r.code !== 0) throw new CommandError(argv, r);
  return r.stdout;
}

// Which server binary a run starts: the real etcd (PATH or --etcd-bin) or
// faultline-etcd (bin/faultline-etcd.js of this package, run with node).
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { ServerCommand } from './cluster/member.js';

export class CouldNotRun extends Error {
  override readonly name = 'CouldNotRun';
}

export interface ResolvedServer {
  command: ServerCommand;
  /** What the version flag printed, first line. */
  version: string;
  description: string;
}

/** The package root: the nearest directory up from this module holding a package.json named faultline. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'faultline') return dir;
      } catch {
        // keep walking
      }
    }
    dir = dirname(dir);
  }
  throw new CouldNotRun('cannot find the faultline package root');
}

export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function findOnPath(name: string, pathVar = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function versionOf(file: string, prefixArgs: string[]): Promise<string> {
  const r = await execa(file, [...prefixArgs, '--version'], { reject: false, timeout: 10_000 });
  const text = `${String(r.stdout ?? '')}\n${String(r.stderr ?? '')}`.trim();
  if (r.failed && !text) throw new CouldNotRun(`${file} --version failed: ${r.shortMessage ?? 'no output'}`);
  return text.split('\n')[0] ?? 'unknown';
}

export async function resolveServer(db: 'ours' | 'etcd', etcdBin: string | undefined): Promise<ResolvedServer> {
  if (db === 'etcd') {
    const file = etcdBin ? resolve(etcdBin) : findOnPath('etcd');
    if (!file) throw new CouldNotRun('etcd not found on PATH; install it (apt-get install etcd-server) or pass --etcd-bin PATH');
    try {
      accessSync(file, constants.X_OK);
    } catch {
      throw new CouldNotRun(`--etcd-bin ${file} is not an executable file`);
    }
    const version = await versionOf(file, []);
    return { command: { file, prefixArgs: [] }, version, description: `etcd (${file})` };
  }
  const root = packageRoot();
  const script = join(root, 'bin', 'faultline-etcd.js');
  const compiled = join(root, 'dist', 'etcd', 'main.js');
  if (!existsSync(script)) throw new CouldNotRun(`faultline-etcd launcher missing: ${script}`);
  if (!existsSync(compiled)) {
    throw new CouldNotRun(`faultline-etcd is not built (${compiled} missing): run \`npm run build\`, or test the real server with --db etcd`);
  }
  let version = 'unknown';
  try {
    version = await versionOf(process.execPath, [script]);
  } catch {
    // Version output is informative only; startup errors surface in the member logs.
  }
  return { command: { file: process.execPath, prefixArgs: [script] }, version, description: `faultline-etcd (${script})` };
}

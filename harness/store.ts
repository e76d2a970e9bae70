// The run store: store/<test-name>/<timestamp>/ holding everything about one
// run, and a store/latest symlink to the newest.
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const FILES = {
  test: 'test.json',
  history: 'history.jsonl',
  results: 'results.json',
  report: 'index.html',
  logs: 'logs',
  data: 'data',
} as const;

/** 2024-05-01T12:03:04.567Z → 20240501T120304.567Z: sortable and safe in paths. */
export function timestampName(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '');
}

export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._+-]+/g, '-').replace(/^-+|-+$/g, '') || 'test';
}

/** Creates a fresh run directory (a suffix avoids collisions within one millisecond). */
export function createRunDir(storeRoot: string, testName: string, date = new Date()): string {
  const base = join(resolve(storeRoot), safeName(testName), timestampName(date));
  let dir = base;
  for (let i = 1; existsSync(dir); i++) dir = `${base}-${i}`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Points <store>/latest at runDir (relative link, replaced atomically). */
export function updateLatest(storeRoot: string, runDir: string): void {
  const root = resolve(storeRoot);
  const link = join(root, 'latest');
  const tmp = join(root, `.latest-${process.pid}`);
  rmSync(tmp, { force: true });
  symlinkSync(relative(root, runDir), tmp);
  renameSync(tmp, link);
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Resolves an analyze target: a run dir, or <store>/latest. */
export function resolveRunDir(dir: string | undefined, storeRoot: string): string {
  const target = dir ?? join(storeRoot, 'latest');
  if (!existsSync(target)) throw new Error(dir ? `no such run directory: ${dir}` : `no runs in ${storeRoot} (no ${target})`);
  const real = realpathSync(target);
  if (!existsSync(join(real, FILES.history))) throw new Error(`${target} is not a run directory (no ${FILES.history})`);
  return real;
}

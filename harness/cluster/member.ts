// One cluster member as an OS process: started with etcd's flags, its output
// appended to a log file in the run directory, and the process-level faults
// (SIGKILL, SIGSTOP/SIGCONT) applied to its real pid.
import { closeSync, openSync, writeSync } from 'node:fs';
import { execa } from 'execa';
import type { ProcessGuard } from './guard.js';

export interface MemberSpec {
  name: string;
  /** Where clients reach the member. */
  clientUrl: string;
  /** What the member binds for clients (usually clientUrl). */
  listenClientUrl: string;
  listenPeerUrl: string;
  advertisePeerUrl: string;
  /** --initial-cluster as this member must see it. */
  initialCluster: string;
  clusterToken: string;
  dataDir: string;
  logPath: string;
}

/** How to run the server binary: `etcd` directly, or `node bin/faultline-etcd.js`. */
export interface ServerCommand {
  file: string;
  /** Arguments before etcd's flags (e.g. the script path for node). */
  prefixArgs: string[];
  /** Optional wrapper (e.g. ip netns exec NAME) placed before the file. */
  wrapper?: string[];
  extraFlags?: string[];
}

export type MemberState = 'stopped' | 'running' | 'paused' | 'killed';

export function memberFlags(spec: MemberSpec, state: 'new' | 'existing' = 'new'): string[] {
  return [
    '--name', spec.name,
    '--data-dir', spec.dataDir,
    '--listen-client-urls', spec.listenClientUrl,
    '--advertise-client-urls', spec.clientUrl,
    '--listen-peer-urls', spec.listenPeerUrl,
    '--initial-advertise-peer-urls', spec.advertisePeerUrl,
    '--initial-cluster', spec.initialCluster,
    '--initial-cluster-state', state,
    '--initial-cluster-token', spec.clusterToken,
  ];
}

export class Member {
  state: MemberState = 'stopped';
  pid: number | undefined;
  private proc: { pid?: number } | undefined;
  private exitPromise: Promise<void> = Promise.resolve();
  /** Exits nobody asked for (a crash), as text for the report. */
  readonly unexpectedExits: string[] = [];
  private expectingExit = false;
  starts = 0;

  constructor(
    readonly spec: MemberSpec,
    private readonly command: ServerCommand,
    private readonly guard: ProcessGuard | undefined,
    private readonly onEvent: (msg: string) => void = () => undefined,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get isUp(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }

  /** Spawns the process (same data dir every time). Readiness is the cluster's job. */
  start(): void {
    if (this.isUp) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    const fd = openSync(this.spec.logPath, 'a');
    try {
      const wrapper = this.command.wrapper ?? [];
      const argv = [...this.command.prefixArgs, ...memberFlags(this.spec), ...(this.command.extraFlags ?? [])];
      const [file, ...args] = wrapper.length > 0 ? [...wrapper, this.command.file, ...argv] : [this.command.file, ...argv];
      writeSync(fd, `\n=== faultline: start #${this.starts + 1} of ${this.name} at ${new Date().toISOString()}: ${[file, ...args].join(' ')}\n`);
      // detached: its own process group, so Ctrl-C in the terminal reaches the
      // harness only and the harness decides how members stop.
      // An fd (not {file}) so the child writes the log itself, not through us.
      // execa's typings only accept numeric literals here, hence the cast.
      const logFd = fd as 3;
      const proc = execa(file!, args, { detached: true, stdin: 'ignore', stdout: logFd, stderr: logFd, reject: false, cleanup: false, buffer: false });
      this.proc = proc;
      this.pid = proc.pid;
      this.starts++;
      this.expectingExit = false;
      this.state = 'running';
      if (proc.pid !== undefined) this.guard?.track(proc.pid, this.spec.dataDir);
      const pid = proc.pid;
      this.exitPromise = proc.then(
        (r) => this.handleExit(pid, r.signal ?? (r.exitCode !== undefined ? `exit code ${r.exitCode}` : 'unknown')),
        (err: unknown) => this.handleExit(pid, err instanceof Error ? err.message : String(err)),
      );
    } finally {
      closeSync(fd);
    }
  }

  private handleExit(pid: number | undefined, how: string): void {
    if (pid !== undefined) this.guard?.untrack(pid);
    if (this.pid !== pid) return;
    if (!this.expectingExit) {
      this.unexpectedExits.push(`${this.name} (pid ${pid}) exited on its own: ${how}`);
      this.onEvent(`member ${this.name} exited unexpectedly: ${how}`);
    }
    this.state = this.expectingExit ? this.state : 'stopped';
    this.pid = undefined;
    this.proc = undefined;
  }

  /** SIGKILL and wait until the process is gone. */
  async kill(): Promise<void> {
    if (!this.proc || this.pid === undefined) {
      this.state = 'killed';
      return;
    }
    this.expectingExit = true;
    this.state = 'killed';
    this.signal('SIGKILL');
    await this.exitPromise;
  }

  pause(): void {
    if (this.state !== 'running') return;
    this.signal('SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.signal('SIGCONT');
    this.state = 'running';
  }

  /**
   * Graceful stop: SIGCONT (a paused process cannot handle SIGTERM), SIGTERM,
   * then SIGKILL after graceMs — etcd stepping down as leader can take seconds.
   */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.proc || this.pid === undefined) {
      this.state = 'stopped';
      return;
    }
    this.expectingExit = true;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const exited = await Promise.race([this.exitPromise.then(() => true), delay(graceMs).then(() => false)]);
    if (!exited) {
      this.signal('SIGKILL');
      await this.exitPromise;
    }
    this.state = 'stopped';
  }

  /** Immediate, synchronous: for crash paths where nothing can be awaited. */
  killNow(): void {
    this.expectingExit = true;
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      // The member leads its own group; signal the group so a wrapper
      // (ip netns exec, a launcher script) and the server both receive it.
      process.kill(-this.pid, sig);
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        // already gone
      }
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

// Terminal output during a run: a live, rewritten status line on a TTY; plain
// periodic lines otherwise (CI logs, pipes).
import type { OpCounters } from './generator.js';

export interface ProgressSource {
  elapsedMs(): number;
  phase(): string;
  counters(): OpCounters;
  faults(): string[];
}

export function formatStatus(src: ProgressSource): string {
  const c = src.counters();
  const s = Math.floor(src.elapsedMs() / 1000);
  const faults = src.faults();
  return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${src.phase().padEnd(10)} ok ${c.ok}  fail ${c.fail}  info ${c.info}  fault: ${faults.length ? faults.join('+') : 'none'}`;
}

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private lastLen = 0;

  constructor(
    private readonly src: ProgressSource,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly enabled = true,
  ) {}

  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  start(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => this.tick(), this.tty ? 500 : 10_000);
    this.timer.unref();
  }

  private tick(): void {
    const line = formatStatus(this.src);
    if (this.tty) {
      this.out.write(`\r${line.padEnd(this.lastLen)}`);
      this.lastLen = line.length;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** A message line that does not garble the live status line. */
  log(msg: string): void {
    if (!this.enabled) return;
    if (this.tty && this.lastLen > 0) {
      this.out.write(`\r${' '.repeat(this.lastLen)}\r`);
      this.lastLen = 0;
    }
    this.out.write(`${msg}\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.enabled) return;
    if (this.tty) {
      this.out.write(`\r${formatStatus(this.src).padEnd(this.lastLen)}\n`);
      this.lastLen = 0;
    }
  }
}

// Everything a run creates (member processes, proxies, namespaces, rules) is
// registered here, and torn down in reverse order on every way out: a normal
// return, an error, SIGINT/SIGTERM, or an uncaught exception.

export type CleanupFn = () => void | Promise<void>;

interface Entry {
  name: string;
  fn: CleanupFn;
}

export class CleanupRegistry {
  private entries: Entry[] = [];
  private running: Promise<string[]> | undefined;

  /** Registers a teardown step; the returned function unregisters it (after the resource was released normally). */
  add(name: string, fn: CleanupFn): () => void {
    const entry: Entry = { name, fn };
    this.entries.push(entry);
    return () => {
      this.entries = this.entries.filter((e) => e !== entry);
    };
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Runs every step, newest first, each exactly once even if called again
   * concurrently (a signal arriving during a normal teardown). Returns the
   * errors as text: cleanup must go on past a failing step.
   */
  runAll(timeoutMs = 15_000): Promise<string[]> {
    if (this.running) return this.running;
    this.running = (async () => {
      const errors: string[] = [];
      while (this.entries.length > 0) {
        const entry = this.entries.pop()!;
        try {
          await withTimeout(Promise.resolve().then(entry.fn), timeoutMs, entry.name);
        } catch (err) {
          errors.push(`${entry.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      this.running = undefined;
      return errors;
    })();
    return this.running;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: cleanup timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export interface ProcessHooks {
  /** Called on the first SIGINT/SIGTERM: the run should stop and clean up. */
  onInterrupt(signal: NodeJS.Signals): void;
  /** Removes the handlers again. */
  dispose(): void;
}

/**
 * Installs SIGINT/SIGTERM and uncaughtException/unhandledRejection handlers.
 * The first signal asks the run to stop (it cleans up and exits 3 itself); a
 * second signal or a crash of the harness tears everything down at once and
 * exits with 3.
 */
export function installProcessHooks(registry: CleanupRegistry, onInterrupt: (signal: NodeJS.Signals) => void, log: (msg: string) => void): ProcessHooks {
  let interrupted = false;
  const hardExit = (why: string) => {
    log(`faultline: ${why}; cleaning up`);
    void registry.runAll(5_000).finally(() => process.exit(3));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return hardExit(`second ${signal}`);
    interrupted = true;
    onInterrupt(signal);
  };
  const onCrash = (err: unknown) => {
    hardExit(`harness crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  return {
    onInterrupt,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    },
  };
}

// Faults as the scheduler sees them: something that starts and stops, and
// says what it did so the history can record targets.
import type { Rng } from '../harness/random.js';

/** The part of a member a fault needs: its process state and signals. */
export interface MemberControl {
  readonly name: string;
  readonly state: 'stopped' | 'running' | 'paused' | 'killed';
  kill(): Promise<void>;
  start(): void;
  pause(): void;
  resume(): void;
}

/** The part of a cluster a fault needs. */
export interface ClusterControl {
  readonly names: string[];
  member(name: string): MemberControl;
  /** The current leader's name, or undefined when none is known. */
  leader(): Promise<string | undefined>;
}

export interface NemesisEnv {
  cluster: ClusterControl;
  rng: Rng;
  log: (msg: string) => void;
}

/** What a fault reports for the history: the mode it chose and the members it hit. */
export interface FaultReport {
  mode?: string;
  targets?: string[];
  [detail: string]: unknown;
}

export interface Fault {
  /** kill, pause, partition, slow */
  readonly name: string;
  readonly active: boolean;
  start(): Promise<FaultReport>;
  /** Undoes start (restart, resume, heal). Safe to call when not active. */
  stop(): Promise<FaultReport>;
}

export const NEMESIS_NAMES = ['kill', 'pause', 'partition', 'slow'] as const;
export type NemesisName = (typeof NEMESIS_NAMES)[number];

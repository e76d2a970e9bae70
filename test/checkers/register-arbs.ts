// fast-check arbitraries for the register simulation in
// checkers/sim/register-sim.ts: random op specs, scenarios and injections.

import fc from 'fast-check';
import type { InjectionChoice, InjectionKind, OpSpec, SpecOutcome } from '../../checkers/sim/register-sim.js';

export function opSpecArb(cfg: { processes: number; keys: number }): fc.Arbitrary<OpSpec> {
  return fc.record({
    proc: fc.nat({ max: cfg.processes - 1 }),
    key: fc.nat({ max: cfg.keys - 1 }),
    f: fc.constantFrom<'read' | 'write' | 'cas'>('read', 'write', 'cas'),
    gap: fc.nat({ max: 4 }),
    dur: fc.integer({ min: 1, max: 8 }),
    lp: fc.nat({ max: 97 }),
    outcome: fc.oneof(
      { weight: 16, arbitrary: fc.constant<SpecOutcome>('ok') },
      { weight: 1, arbitrary: fc.constant<SpecOutcome>('info-applied') },
      { weight: 1, arbitrary: fc.constant<SpecOutcome>('info-lost') },
    ),
    casHit: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  });
}

export interface Scenario {
  specs: OpSpec[];
  cutPercent: number;
}

export function scenarioArb(cfg: { processes: number; keys: number; maxOps: number }): fc.Arbitrary<Scenario> {
  return fc.record({
    specs: fc.array(opSpecArb(cfg), { minLength: 1, maxLength: cfg.maxOps, size: 'max' }),
    cutPercent: fc.oneof(fc.constant(100), fc.integer({ min: 50, max: 100 })),
  });
}

export function injectionArb(keys: number): fc.Arbitrary<InjectionChoice> {
  return fc.record({
    kind: fc.constantFrom<InjectionKind>('stale-read', 'lost-write', 'duplicated-write'),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    key: fc.nat({ max: keys - 1 }),
    pick: fc.nat({ max: 1000 }),
  });
}


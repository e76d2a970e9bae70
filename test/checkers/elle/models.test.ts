import { describe, expect, it } from 'vitest';
import { impliedAnomalies, modelVerdict } from '../../../checkers/elle/index.js';

describe('consistency models from anomalies', () => {
  it('no anomalies: strict serializable', () => {
    expect(modelVerdict([])).toMatchObject({ strongest: ['strict-serializable'], not: [], alsoNot: [] });
  });
  it('follows Adya and Elle for each anomaly class', () => {
    const strongest = (a: string) => modelVerdict([a]).strongest;
    expect(strongest('G0')).toEqual([]);
    expect(strongest('duplicate-elements')).toEqual([]);
    expect(strongest('G1a')).toEqual(['read-uncommitted']);
    expect(strongest('G1b')).toEqual(['read-uncommitted']);
    expect(strongest('G1c')).toEqual(['read-uncommitted']);
    expect(strongest('incompatible-order')).toEqual(['read-uncommitted']);
    expect(strongest('G-single')).toEqual(['read-committed']);
    expect(strongest('lost-update')).toEqual(['read-committed']);
    expect(strongest('G2-item')).toEqual(['snapshot-isolation']);
    expect(strongest('G-nonadjacent')).toEqual(['read-committed']);
    expect(strongest('internal')).toEqual(['repeatable-read']);
    expect(strongest('G-single-realtime')).toEqual(['serializable']);
    expect(strongest('G0-process')).toEqual(['serializable']);
  });
  it('names the weakest violated models and the stronger ones', () => {
    expect(modelVerdict(['G2-item'])).toMatchObject({ not: ['repeatable-read'], alsoNot: ['strict-serializable', 'serializable'] });
  });
  it('implications are transitive', () => {
    expect([...impliedAnomalies(['G0'])]).toEqual(expect.arrayContaining(['G1c', 'G1', 'G0-realtime', 'G1c-realtime']));
  });
});

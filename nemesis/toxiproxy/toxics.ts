// Toxic definitions as Toxiproxy 2.x exposes them over its HTTP API: the
// attribute names per type, their defaults, and how a toxic is described in
// JSON. The byte-level behaviour lives in link.ts.

export type StreamDirection = 'upstream' | 'downstream';

export const TOXIC_ATTRIBUTES = {
  latency: ['latency', 'jitter'],
  bandwidth: ['rate'],
  slow_close: ['delay'],
  timeout: ['timeout'],
  reset_peer: ['timeout'],
  slicer: ['average_size', 'size_variation', 'delay'],
  limit_data: ['bytes'],
} as const;

export type ToxicType = keyof typeof TOXIC_ATTRIBUTES;

export type ToxicAttributes = Record<string, number>;

export interface ToxicSpec {
  name: string;
  type: ToxicType;
  stream: StreamDirection;
  toxicity: number;
  attributes: ToxicAttributes;
}

/** The JSON Toxiproxy returns for a toxic: attributes first, as its Go struct orders them. */
export interface ToxicJson {
  attributes: ToxicAttributes;
  name: string;
  type: ToxicType;
  stream: StreamDirection;
  toxicity: number;
}

export function isToxicType(t: unknown): t is ToxicType {
  return typeof t === 'string' && Object.prototype.hasOwnProperty.call(TOXIC_ATTRIBUTES, t);
}

export function toxicJson(t: ToxicSpec): ToxicJson {
  return { attributes: { ...t.attributes }, name: t.name, type: t.type, stream: t.stream, toxicity: t.toxicity };
}

/**
 * Reads the known attributes of a toxic type from a request body, keeping the
 * previous values for omitted keys (Toxiproxy merges on update). Unknown keys
 * are ignored, as Go's JSON decoder does. Returns an error message when a value
 * is not a number.
 */
export function mergeAttributes(
  type: ToxicType,
  previous: ToxicAttributes | undefined,
  input: unknown,
): { ok: true; attributes: ToxicAttributes } | { ok: false; error: string } {
  const out: ToxicAttributes = {};
  for (const key of TOXIC_ATTRIBUTES[type]) out[key] = previous?.[key] ?? 0;
  if (input === undefined || input === null) return { ok: true, attributes: out };
  if (typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, error: 'attributes must be an object' };
  }
  const record = input as Record<string, unknown>;
  for (const key of TOXIC_ATTRIBUTES[type]) {
    if (!(key in record)) continue;
    const v = record[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return { ok: false, error: `cannot unmarshal ${JSON.stringify(v)} into attribute ${key} of type number` };
    }
    // Toxiproxy's attributes are Go integers (float toxicity aside).
    if (!Number.isInteger(v)) {
      return { ok: false, error: `cannot unmarshal number ${v} into attribute ${key} of type int64` };
    }
    out[key] = v;
  }
  return { ok: true, attributes: out };
}

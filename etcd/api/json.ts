// proto3 JSON as etcd's grpc-gateway speaks it. Requests: bytes in base64,
// int64 as strings or numbers, enums as names or numbers, snake_case or
// lowerCamel names. Responses: proto field names, int64 as strings, bytes in
// base64, default values omitted (so a PUT event carries no "type").

import { join } from 'node:path';
import protobuf from 'protobufjs';
import { EtcdError, GrpcCode } from '../errors.js';
import { PROTO_FILES, protoDir } from '../proto/load.js';
import type { WireObject } from './wire.js';

let root: protobuf.Root | undefined;

function protoRoot(): protobuf.Root {
  if (root) return root;
  const dir = protoDir();
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(dir, target));
  r.loadSync(PROTO_FILES.map((f) => join(dir, f)), { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

export function messageType(name: string): protobuf.Type {
  return protoRoot().lookupType(name);
}

/** Renames lowerCamel keys to the proto names, recursively following message fields. */
function normalise(type: protobuf.Type, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: WireObject = {};
  for (const [k, v] of Object.entries(value as WireObject)) {
    const field = type.fields[k] ?? Object.values(type.fields).find((f) => protobuf.util.camelCase(f.name) === k);
    if (!field) {
      // grpc-gateway rejects unknown fields; so do we, with the field named.
      throw new EtcdError(GrpcCode.INVALID_ARGUMENT, `unknown field "${k}" in ${type.fullName.replace(/^\./, '')}`);
    }
    const rt = field.resolve().resolvedType;
    if (rt instanceof protobuf.Type) {
      out[field.name] = field.repeated && Array.isArray(v) ? v.map((x) => normalise(rt, x)) : normalise(rt, v);
    } else {
      out[field.name] = v;
    }
  }
  return out;
}

/** JSON request body → the same object shape gRPC handlers receive. */
export function decodeJsonRequest(typeName: string, body: unknown): WireObject {
  const type = messageType(typeName);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new EtcdError(GrpcCode.INVALID_ARGUMENT, `request body must be a JSON object for ${typeName}`);
  }
  let msg: protobuf.Message;
  try {
    // fromObject converts base64, decimal strings and enum names; the
    // converters in convert.ts then check each field's type defensively.
    msg = type.fromObject(normalise(type, body) as Record<string, unknown>);
  } catch (e) {
    if (e instanceof EtcdError) throw e;
    throw new EtcdError(GrpcCode.INVALID_ARGUMENT, `invalid ${typeName}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return type.toObject(msg, { longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true }) as WireObject;
}

/** A handler's response object → etcd's gateway JSON value. */
export function encodeJsonResponse(typeName: string, res: WireObject): unknown {
  const type = messageType(typeName);
  const msg = type.fromObject(res);
  return omitDefaults(type, type.toObject(msg, { longs: String, enums: String, bytes: String, defaults: false }));
}

/** proto3 JSON leaves out fields holding their zero value, as grpc-gateway (EmitDefaults off) does. */
function omitDefaults(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  for (const field of type.fieldsArray) {
    const v = obj[field.name];
    if (v === undefined) continue;
    const rt = field.resolvedType;
    let isDefault: boolean;
    if (Array.isArray(v)) {
      if (rt instanceof protobuf.Type) for (const item of v) omitDefaults(rt, item as Record<string, unknown>);
      isDefault = v.length === 0;
    } else if (rt instanceof protobuf.Type) {
      isDefault = v === null;
      if (!isDefault) omitDefaults(rt, v as Record<string, unknown>);
    } else if (rt instanceof protobuf.Enum) {
      isDefault = v === 0 || v === Object.keys(rt.values).find((k) => rt.values[k] === 0);
    } else {
      isDefault = v === false || v === 0 || v === '0' || v === '' || v === null;
    }
    if (isDefault) delete obj[field.name];
  }
  return obj;
}

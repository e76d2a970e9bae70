// The accepting half of the transport: one accepted TCP connection from a
// remote member. The first frame must be a handshake naming our cluster and
// our member id; after that the connection carries Raft messages (answered
// with an acknowledgement for each snapshot) and forwarded requests
// (answered with their response). Anything malformed closes the connection.

import type net from 'node:net';
import type { Message, NodeId } from '../raft/types.js';
import { FrameDecoder, PEER_PROTOCOL_VERSION, PeerCodecError, decodeFramePayload, encodeFrame, type Frame, type Hello } from './codec.js';
import type { PeerLogFn } from './outbound.js';

const KEEPALIVE_DELAY_MS = 30_000;
/** How long a rejected connection may take to read its rejection before we cut it. */
const REJECT_LINGER_MS = 1_000;

export interface InboundContext {
  localId: NodeId;
  clusterId: bigint;
  log: PeerLogFn;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  isRemoved(id: NodeId): boolean;
  /** A new connection from `from` has been accepted; the transport retires older ones. */
  accepted(from: NodeId, socket: net.Socket): void;
  deliver(from: NodeId, m: Message): void;
  handleRequest(from: NodeId, kind: string, payload: Uint8Array): Promise<Uint8Array>;
}

export function serveInbound(socket: net.Socket, ctx: InboundContext): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
  const decoder = new FrameDecoder(ctx.maxFrameBytes);
  let peer: NodeId | undefined;
  let misaddressedLogged = false;
  const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;

  const handshakeTimer = setTimeout(() => {
    ctx.log('warn', 'closing peer connection: no handshake', { 'remote-addr': remote });
    socket.destroy();
  }, ctx.handshakeTimeoutMs);
  socket.on('close', () => clearTimeout(handshakeTimer));
  socket.on('error', (err) => {
    ctx.log('debug', 'peer connection error', { 'remote-addr': remote, 'remote-peer-id': peer, error: err.message });
  });

  const reject = (reason: string): void => {
    clearTimeout(handshakeTimer);
    socket.end(encodeFrame({ kind: 'helloReject', reason }));
    setTimeout(() => socket.destroy(), REJECT_LINGER_MS).unref();
  };

  const checkHello = (h: Hello): string | undefined => {
    const fields = {
      'local-member-id': ctx.localId,
      'local-member-cluster-id': ctx.clusterId.toString(16),
      'remote-peer-id': h.from,
      'remote-addr': remote,
    };
    if (h.protocolVersion !== PEER_PROTOCOL_VERSION) {
      ctx.log('warn', 'rejected peer connection: unsupported protocol version', { ...fields, 'remote-peer-protocol-version': h.protocolVersion });
      return `unsupported peer protocol version ${h.protocolVersion} (want ${PEER_PROTOCOL_VERSION})`;
    }
    if (h.clusterId !== ctx.clusterId) {
      ctx.log('warn', 'request cluster ID mismatch', { ...fields, 'remote-peer-cluster-id': h.clusterId.toString(16) });
      return `cluster ID mismatch: local ${ctx.clusterId.toString(16)}, remote ${h.clusterId.toString(16)}`;
    }
    if (h.to !== ctx.localId) {
      ctx.log('warn', 'ignored streaming request; ID mismatch', { ...fields, 'remote-peer-id-header': h.to });
      return `member ID mismatch: this member is ${ctx.localId}, request was for ${h.to}`;
    }
    if (h.from === '' || h.from === ctx.localId) {
      ctx.log('warn', 'rejected peer connection: invalid sender ID', fields);
      return `invalid sender member ID ${JSON.stringify(h.from)}`;
    }
    if (ctx.isRemoved(h.from)) {
      ctx.log('warn', 'rejected stream from remote peer because it was removed', fields);
      return `the member has been permanently removed from the cluster`;
    }
    return undefined;
  };

  const respond = (f: Frame): void => {
    if (!socket.destroyed && socket.writable) socket.write(encodeFrame(f));
  };

  const onFrame = (f: Frame): void => {
    if (peer === undefined) {
      if (f.kind !== 'hello') throw new PeerCodecError(`expected a handshake, got a ${f.kind} frame`);
      const refusal = checkHello(f.hello);
      if (refusal !== undefined) return reject(refusal);
      clearTimeout(handshakeTimer);
      peer = f.hello.from;
      ctx.accepted(peer, socket);
      respond({ kind: 'helloOk' });
      return;
    }
    const from = peer;
    switch (f.kind) {
      case 'message': {
        const m = f.message;
        if (m.to !== ctx.localId) {
          if (!misaddressedLogged) {
            ctx.log('warn', 'dropped message addressed to another member', { 'local-member-id': ctx.localId, 'remote-peer-id': from, to: m.to, type: m.type });
            misaddressedLogged = true;
          }
          // The sender still waits for a verdict on a snapshot; a dropped one never arrives whole.
          if (m.type === 'snap') socket.destroy();
          return;
        }
        ctx.deliver(from, m);
        if (m.type === 'snap') respond({ kind: 'snapshotAck', index: m.snapshot.index });
        return;
      }
      case 'request': {
        const { id } = f;
        ctx.handleRequest(from, f.type, f.payload).then(
          (payload) => respond({ kind: 'responseOk', id, payload }),
          (err: unknown) => respond({ kind: 'responseError', id, code: errorCode(err), message: errorMessage(err) }),
        );
        return;
      }
      default:
        throw new PeerCodecError(`unexpected ${f.kind} frame from dialer`);
    }
  };

  socket.on('data', (chunk: Buffer) => {
    try {
      for (const payload of decoder.push(chunk)) {
        if (socket.destroyed) return;
        onFrame(decodeFramePayload(payload));
      }
    } catch (err) {
      ctx.log('warn', 'closing peer connection: malformed frame', {
        'local-member-id': ctx.localId,
        'remote-peer-id': peer,
        'remote-addr': remote,
        error: err instanceof Error ? err.message : String(err),
      });
      socket.destroy();
    }
  });
}

function errorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'number' && Number.isSafeInteger(code) && code >= 0 ? code : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

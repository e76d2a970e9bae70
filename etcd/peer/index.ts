// Public surface of the peer transport.

export {
  PeerTransport,
  PeerRequestError,
  type PeerTransportOptions,
  type PeerStats,
  type PeerRequestFailure,
  type RequestHandler,
  type PeerLogFn,
  type PeerLogLevel,
} from './transport.js';
export {
  PeerCodecError,
  encodeMessage,
  decodeMessage,
  MESSAGE_CODEC_VERSION,
  PEER_PROTOCOL_VERSION,
  DEFAULT_MAX_FRAME_BYTES,
} from './codec.js';
export { parsePeerUrl } from './url.js';

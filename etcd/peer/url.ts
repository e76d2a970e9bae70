// Peer URLs as etcd writes them (http://host:port). TLS peer URLs are refused
// rather than silently spoken to in plaintext.

export interface HostPort {
  host: string;
  port: number;
}

export function parsePeerUrl(raw: string): HostPort {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`invalid peer URL ${JSON.stringify(raw)}`);
  }
  if (url.protocol === 'https:') throw new TypeError(`TLS peer URLs are not supported: ${raw}`);
  if (url.protocol !== 'http:') throw new TypeError(`peer URL must use http: ${raw}`);
  if (url.hostname === '') throw new TypeError(`peer URL has no host: ${raw}`);
  // URL drops the scheme's default port, so an explicit :80 reads back as ''.
  const port = url.port === '' ? 80 : Number(url.port);
  const host = url.hostname.startsWith('[') && url.hostname.endsWith(']') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port };
}

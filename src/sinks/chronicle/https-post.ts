import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as text, cut at maxResponseBytes (error bodies are all we read). */
  body: string;
}

/** A network-level failure (refused, reset, TLS, timeout): no HTTP status came back. */
export class HttpTransportError extends Error {
  readonly code: string | undefined;

  constructor(url: string, cause: unknown) {
    const err = cause as NodeJS.ErrnoException | undefined;
    super(`${url}: ${err?.message ?? String(cause)}`, { cause });
    this.name = 'HttpTransportError';
    this.code = err?.code;
  }
}

const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * An HTTPS agent. With caFile, that CA is trusted in addition to Node's bundled roots (a private
 * endpoint or a TLS-inspecting proxy; the tests' local server). Certificate and host name checks
 * stay on: there is no option to turn them off.
 */
export function httpsAgent(caFile: string | undefined): https.Agent {
  const ca = caFile !== undefined ? [...tls.rootCertificates, fs.readFileSync(caFile, 'utf8')] : undefined;
  return new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) });
}

/** One HTTPS POST. Rejects with HttpTransportError when no response came; any status resolves. */
export function httpsPost(url: URL, body: string | Buffer, headers: Record<string, string>, agent: https.Agent, timeoutMs: number): Promise<HttpResponse> {
  if (url.protocol !== 'https:') return Promise.reject(new Error(`refusing to send credentials over ${url.protocol} (${url.origin})`));
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(payload.length) } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_RESPONSE_BYTES) chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
        size += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => reject(new HttpTransportError(url.origin + url.pathname, err)));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no response within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(new HttpTransportError(url.origin + url.pathname, err)));
    req.end(payload);
  });
}

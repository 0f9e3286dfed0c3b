/**
 * Reads one reputation feed's text: a local file, or an HTTPS GET. I/O only (the parsing is
 * src/analyzer/reputation-feed-parse.ts). Bounded: a size cap and a timeout, no redirects (a
 * redirect is an error that names where it pointed, so a moved feed is noticed, not followed
 * somewhere unexpected), certificate verification always on.
 */
import fs from 'node:fs';
import https from 'node:https';

export const MAX_FEED_BYTES = 64 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

export interface FetchOptions {
  caFile: string | null;
  timeoutMs?: number;
  maxBytes?: number;
}

/** Reads the feed; throws an Error whose message names the problem (HTTP status, timeout, size, TLS). */
export async function fetchFeed(source: string, options: FetchOptions): Promise<string> {
  const maxBytes = options.maxBytes ?? MAX_FEED_BYTES;
  if (!source.startsWith('https://')) {
    const st = await fs.promises.stat(source);
    if (!st.isFile()) throw new Error(`${source} is not a regular file`);
    if (st.size > maxBytes) throw new Error(`${source} is ${st.size} bytes, over the ${maxBytes}-byte cap`);
    return fs.promises.readFile(source, 'utf8');
  }
  const ca = options.caFile ? await fs.promises.readFile(options.caFile, 'utf8') : undefined;
  return new Promise<string>((resolve, reject) => {
    const req = https.get(source, { ...(ca ? { ca } : {}), timeout: options.timeoutMs ?? TIMEOUT_MS, headers: { accept: 'text/plain, text/csv, application/json, application/stix+json' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        res.resume();
        const where = status >= 300 && status < 400 && res.headers.location ? ` (redirect to ${res.headers.location.slice(0, 200)}, not followed)` : '';
        reject(new Error(`HTTP ${status}${where}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          req.destroy(new Error(`response over the ${maxBytes}-byte cap`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${(options.timeoutMs ?? TIMEOUT_MS) / 1000}s`)));
    req.on('error', reject);
  });
}

/**
 * Sink `chronicle-api`: UDM events straight into Google SecOps through the Chronicle API method
 * events.import (ImportEvents), no forwarder in between:
 *
 *   POST https://{region}-chronicle.googleapis.com/{v1alpha|v1beta|v1}/projects/{project}/locations/{region}/instances/{instance}/events:import
 *   {"inlineSource":{"events":[{"udm":{...}}, ...]}}            (an empty body comes back on success)
 *
 * with an OAuth token for the scope https://www.googleapis.com/auth/cloud-platform and the IAM
 * permission chronicle.events.import on the instance. Sources:
 *  - https://cloud.google.com/chronicle/docs/reference/rest/v1alpha/projects.locations.instances.events/import
 *    (request body inlineSource / EventsInlineSource.events[], scope, permission, "an error in one
 *    entity will cause the entire request to be rejected"); the same method exists under v1beta and v1.
 *  - https://cloud.google.com/chronicle/docs/reference/ingestion-methods (ImportEvents replaces the
 *    Ingestion API's udmevents).
 *  - chronicle/api-samples-python ingestion/v1alpha/create_udm_events.py and common/regions.py
 *    (Google's sample: the region is prefixed to the host, `{region}-chronicle.googleapis.com`, and
 *    repeated as the location; body {"inline_source": {"events": [{"udm": ...}]}} - proto JSON
 *    accepts both inline_source and the documented inlineSource).
 *
 * The older Chronicle Ingestion API (malachiteingestion-pa.googleapis.com/v2/udmevents:batchCreate,
 * body {"customer_id": ..., "events": [...]}, scope .../auth/malachite-ingestion) is the legacy path
 * Google asks customers to migrate from; it is deliberately not implemented.
 *
 * Delivery: a write() is split into requests of at most maxRequestBytes (4 MB); requests go one at
 * a time in write() order. 5xx and network failures are retried with exponential backoff and
 * jitter; 429 waits at least 30 s, longer when Retry-After says so; any other 4xx is not retried
 * and rejects with the status and the API's own error message. A write() resolves only when every
 * request of it was accepted, so a spool in front of this sink keeps what was not.
 */
import type https from 'node:https';
import { z } from 'zod';
import { type ChronicleApiSinkConfig, MAX_REQUEST_BYTES } from '../../config/sinks';
import type { OutRecord, Sink } from '../../core/sink';
import { toJsonLine } from '../../format/jsonline';
import { safeText } from '../../core/text';
import { CLOUD_PLATFORM_SCOPE, GOOGLE_TOKEN_URL, ServiceAccountTokenSource, TokenError } from './google-token';
import { HttpTransportError, httpsAgent, httpsPost, type HttpResponse } from './https-post';
import { packRequests, REQUEST_PREFIX, REQUEST_SUFFIX } from './batch';

export { MAX_REQUEST_BYTES, chronicleApiSinkSchema, type ChronicleApiSinkConfig } from '../../config/sinks';
/** The least wait after an HTTP 429, whatever Retry-After says. Not a setting: tests inject sleep. */
export const MIN_WAIT_AFTER_429_MS = 30_000;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
/** A Retry-After beyond this is read as this: a garbled header must not stall delivery for days. */
const MAX_RETRY_AFTER_MS = 3_600_000;


/** For tests and embedding; none of these is a user setting. */
export interface ChronicleApiDeps {
  /** Waits between tries; receives the requested delay. Default: a timer that close() cancels. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /** Told about events that cannot be sent at all (one event above the request cap). */
  onWarning?: (message: string) => void;
}

/** An HTTP error from events:import or the token endpoint; the message names status and API message. */
export class ChronicleApiError extends Error {
  constructor(message: string, readonly status: number | undefined, readonly retriable: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ChronicleApiError';
  }
}

export function importUrl(c: Pick<ChronicleApiSinkConfig, 'region' | 'project' | 'instance' | 'apiVersion' | 'endpoint'>): URL {
  const base = (c.endpoint ?? `https://${c.region}-chronicle.googleapis.com`).replace(/\/+$/, '');
  return new URL(`${base}/${c.apiVersion ?? 'v1alpha'}/projects/${c.project}/locations/${c.region}/instances/${c.instance}/events:import`);
}

/** Google's error body {"error":{"code":400,"message":"...","status":"INVALID_ARGUMENT"}}, as one line. */
function apiMessage(res: HttpResponse): string {
  try {
    const e = (JSON.parse(res.body) as { error?: { message?: unknown; status?: unknown } }).error;
    const parts = [e?.status, e?.message].filter((s): s is string => typeof s === 'string' && s !== '');
    if (parts.length > 0) return safeText(parts.join(': '), 1000);
  } catch { /* not JSON: show the start of the body */ }
  return safeText(res.body.trim().slice(0, 300), 300) || '(empty body)';
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date, at most an hour); undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Math.min(MAX_RETRY_AFTER_MS, Number(v.trim()) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now));
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('chronicle-api sink closed'));
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(new Error('chronicle-api sink closed')); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class ChronicleApiSink implements Sink {
  readonly name: string;
  readonly url: URL;
  private readonly agent: https.Agent;
  private readonly tokens: ServiceAccountTokenSource;
  private readonly maxRequestBytes: number;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly sleep: NonNullable<ChronicleApiDeps['sleep']>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly onWarning: (message: string) => void;
  private readonly abort = new AbortController();
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  /** Counters for status output. */
  readonly stats = { requests: 0, eventsSent: 0, retries: 0, eventsDropped: 0 };

  constructor(config: Omit<ChronicleApiSinkConfig, 'type'>, deps: ChronicleApiDeps = {}) {
    this.url = importUrl(config);
    this.name = `chronicle-api:${config.region}/${config.instance}`;
    try {
      this.agent = httpsAgent(config.caFile);
    } catch (err) {
      throw new ChronicleApiError(`${this.name}: cannot read caFile ${config.caFile}: ${(err as Error).message}`, undefined, false, err);
    }
    this.maxRequestBytes = config.maxRequestBytes ?? MAX_REQUEST_BYTES;
    this.maxAttempts = config.maxAttempts ?? 8;
    this.timeoutMs = config.requestTimeout ?? 30_000;
    this.sleep = deps.sleep ?? defaultSleep;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.onWarning = deps.onWarning ?? (() => undefined);
    this.tokens = new ServiceAccountTokenSource({
      credentialsFile: config.credentialsFile, tokenUrl: config.tokenUrl ?? GOOGLE_TOKEN_URL, scope: CLOUD_PLATFORM_SCOPE,
      agent: this.agent, timeoutMs: this.timeoutMs, now: this.now,
    });
  }

  write(records: OutRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new ChronicleApiError(`${this.name}: write after close`, undefined, false));
    let events: string[];
    try {
      events = records.map((r) => `{"udm":${toJsonLine(r)}}`);
    } catch (err) {
      return Promise.reject(new ChronicleApiError(`${this.name}: a record is not JSON: ${(err as Error).message}`, undefined, false, err));
    }
    const { requests, oversize } = packRequests(events, this.maxRequestBytes);
    for (const size of oversize) {
      this.stats.eventsDropped++;
      this.onWarning(`${this.name}: dropped one UDM event of ${size} bytes: no request may exceed ${this.maxRequestBytes} bytes`);
    }
    // One request at a time, in write() order; a failed write does not stop the next one.
    const run = this.tail.catch(() => undefined).then(async () => {
      for (const r of requests) await this.send(REQUEST_PREFIX + r.events.join(',') + REQUEST_SUFFIX, r.events.length);
    });
    this.tail = run;
    return run;
  }

  async flush(): Promise<void> {
    await this.tail;
  }

  /**
   * Stops: a wait between retries ends at once (its write() rejects; a spool keeps those events),
   * a request on the wire is let finish, then connections are closed. flush() first to deliver.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    await this.tail.catch(() => undefined);
    this.agent.destroy();
  }

  /** Sends one request body, retrying what may be retried; rejects with the last error. */
  private async send(body: string, count: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let wait: number;
      let error: ChronicleApiError;
      try {
        const res = await this.post(body);
        if (res.status >= 200 && res.status < 300) {
          this.stats.eventsSent += count;
          return;
        }
        const message = `${this.name}: events:import HTTP ${res.status}: ${apiMessage(res)}`;
        if (res.status === 429) {
          wait = Math.max(MIN_WAIT_AFTER_429_MS, retryAfterMs(res.headers['retry-after'], this.now()) ?? 0);
          error = new ChronicleApiError(message, 429, true);
        } else if (res.status >= 500) {
          wait = Math.max(this.backoff(attempt), retryAfterMs(res.headers['retry-after'], this.now()) ?? 0);
          error = new ChronicleApiError(message, res.status, true);
        } else {
          if (res.status === 401) this.tokens.invalidate(); // the next write asks for a new token
          throw new ChronicleApiError(`${message} (${count} events not accepted; 4xx errors are not retried)`, res.status, false);
        }
      } catch (err) {
        if (err instanceof ChronicleApiError) throw err; // a 4xx: final
        if (err instanceof TokenError && !err.retriable) throw new ChronicleApiError(`${this.name}: ${err.message}`, undefined, false, err);
        if (!(err instanceof HttpTransportError || err instanceof TokenError)) throw err;
        wait = this.backoff(attempt);
        error = new ChronicleApiError(`${this.name}: ${err.message}`, undefined, true, err);
      }
      if (attempt >= this.maxAttempts) {
        throw new ChronicleApiError(`${error.message} - gave up after ${attempt} attempts (${count} events not sent)`, error.status, true, error);
      }
      this.stats.retries++;
      await this.sleep(wait, this.abort.signal);
    }
  }

  private async post(body: string): Promise<HttpResponse> {
    const token = await this.tokens.token();
    this.stats.requests++;
    return httpsPost(this.url, body, { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8', accept: 'application/json' },
      this.agent, this.timeoutMs);
  }

  /** Exponential backoff with jitter: 1 s, 2 s, 4 s ... capped at 60 s, each between half and all of it. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (ceiling / 2) * this.random());
  }
}

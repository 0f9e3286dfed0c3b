/**
 * The chronicle-api sink against a local HTTPS stand-in for Google's token endpoint and
 * events:import (test/helpers/fake-chronicle.ts): the live API is not reachable from CI. Waits
 * between retries go through an injected sleep that records the requested delay and returns at once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import YAML from 'yaml';
import {
  ChronicleApiError, ChronicleApiSink, type ChronicleApiSinkConfig, chronicleApiSinkSchema, importUrl, MAX_REQUEST_BYTES,
  MIN_WAIT_AFTER_429_MS, retryAfterMs,
} from '../../src/sinks/chronicle/chronicle-api';
import { packRequests } from '../../src/sinks/chronicle/batch';
import { FakeChronicle } from '../helpers/fake-chronicle';

const PROJECT = 'bw-test-project';
const INSTANCE = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const IMPORT_PATH = `/v1alpha/projects/${PROJECT}/locations/us/instances/${INSTANCE}/events:import`;

let fake: FakeChronicle | null = null;
let missing: string | null = null;

before(async () => {
  const openssl = FakeChronicle.openssl();
  if (openssl === null) {
    missing = 'openssl not found in PATH: it makes the local HTTPS server\'s certificate';
    return;
  }
  fake = await FakeChronicle.start(openssl);
});

after(async () => {
  await fake?.stop();
});

/** The fake server, or a skip (a failure under CI=true) when openssl is missing. */
function server(t: TestContext): FakeChronicle | null {
  if (fake) {
    fake.reset();
    return fake;
  }
  if (process.env.CI === 'true') throw new Error(`${missing} (CI=true: a missing prerequisite is a failure)`);
  t.skip(missing ?? 'fake Chronicle server did not start');
  return null;
}

function sinkFor(f: FakeChronicle, extra: Partial<ChronicleApiSinkConfig> = {}, delays: number[] = []) {
  const sink = new ChronicleApiSink(
    { region: 'us', project: PROJECT, instance: INSTANCE, credentialsFile: f.credentialsFile, endpoint: f.origin, tokenUrl: f.tokenUrl, caFile: f.caFile, ...extra },
    { sleep: async (ms) => { delays.push(ms); }, random: () => 0.5 },
  );
  return sink;
}

function udm(i: number, pad = 0): Record<string, unknown> {
  return {
    metadata: { event_timestamp: '2025-11-03T10:15:30.123Z', event_type: 'NETWORK_CONNECTION', product_log_id: `log-${i}` },
    target: { ip: ['198.51.100.7'], port: 8883 },
    ...(pad > 0 ? { additional: { padding: 'p'.repeat(pad) } } : {}),
  };
}

const events = (body: unknown) => ((body as { inlineSource: { events: { udm: Record<string, unknown> }[] } }).inlineSource.events);

test('request shape: POST to events:import with inlineSource.events[].udm, Bearer token from the service account', async (t) => {
  const f = server(t);
  if (!f) return;
  const sink = sinkFor(f);
  const records = [udm(1), udm(2), udm(3)];
  await sink.write(records);
  await sink.write([udm(4)]);
  await sink.close();

  assert.equal(f.imports.length, 2);
  const [first] = f.imports;
  assert.equal(first?.method, 'POST');
  assert.equal(first?.path, IMPORT_PATH);
  assert.match(String(first?.headers['content-type']), /^application\/json/);
  assert.equal(first?.headers.authorization, 'Bearer test-token-1');
  assert.deepEqual(Object.keys(first?.body as object), ['inlineSource']);
  assert.deepEqual(events(first?.body).map((e) => Object.keys(e)), [['udm'], ['udm'], ['udm']]);
  assert.deepEqual(events(first?.body).map((e) => e.udm), records);
  assert.equal(f.imports[1]?.headers.authorization, 'Bearer test-token-1', 'the token is cached between writes');
  assert.equal(f.tokenRequests.length, 1);
  assert.equal(f.tokenRequests[0]?.kid, 'test-key-1');
  assert.deepEqual(sink.stats, { requests: 2, eventsSent: 4, retries: 0, eventsDropped: 0 });
});

test('batching: more than 4 MB in one write() goes out as several requests, each under the cap, order kept', async (t) => {
  const f = server(t);
  if (!f) return;
  const sink = sinkFor(f);
  const records = Array.from({ length: 50 }, (_, i) => udm(i, 100_000)); // ~5 MB
  await sink.write(records);
  await sink.close();

  assert.ok(f.imports.length >= 2, `${f.imports.length} request(s)`);
  for (const r of f.imports) assert.ok(r.bytes <= MAX_REQUEST_BYTES && r.bytes < 4_000_001, `request of ${r.bytes} bytes`);
  const sent = f.imports.flatMap((r) => events(r.body).map((e) => (e.udm.metadata as { product_log_id: string }).product_log_id));
  assert.deepEqual(sent, records.map((_, i) => `log-${i}`));
});

test('5xx is retried with exponential backoff and jitter, then succeeds', async (t) => {
  const f = server(t);
  if (!f) return;
  const delays: number[] = [];
  const sink = sinkFor(f, {}, delays);
  f.script.push({ status: 503, body: '{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}' }, { status: 500 });
  await sink.write([udm(1)]);
  await sink.close();

  assert.equal(f.imports.length, 3);
  assert.deepEqual(delays, [750, 1500], 'ceilings 1 s and 2 s, jitter 0.5 gives three quarters of each');
  assert.equal(sink.stats.retries, 2);
  assert.equal(sink.stats.eventsSent, 1);
});

test('5xx until maxAttempts: write() rejects and says it gave up', async (t) => {
  const f = server(t);
  if (!f) return;
  const sink = sinkFor(f, { maxAttempts: 3 });
  f.script.push({ status: 502 }, { status: 502 }, { status: 502 });
  await assert.rejects(sink.write([udm(1)]), (err: unknown) => err instanceof ChronicleApiError && err.status === 502 && /gave up after 3 attempts/.test(err.message));
  assert.equal(f.imports.length, 3);
  await sink.close();
});

test('429 waits at least 30 s, longer when Retry-After says so (seconds or HTTP date)', async (t) => {
  const f = server(t);
  if (!f) return;
  const delays: number[] = [];
  const sink = sinkFor(f, {}, delays);
  const inTwoMinutes = new Date(Date.now() + 180_000).toUTCString();
  f.script.push(
    { status: 429, headers: { 'retry-after': '5' }, body: '{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}' },
    { status: 429, headers: { 'retry-after': '120' } },
    { status: 429, headers: { 'retry-after': inTwoMinutes } },
    { status: 429 },
  );
  await sink.write([udm(1)]);
  await sink.close();

  assert.equal(f.imports.length, 5);
  assert.equal(delays.length, 4);
  assert.equal(delays[0], MIN_WAIT_AFTER_429_MS, 'Retry-After: 5 is below the minimum');
  assert.equal(delays[1], 120_000);
  assert.ok((delays[2] as number) > 170_000 && (delays[2] as number) <= 180_000, `HTTP-date Retry-After: ${delays[2]}`);
  assert.equal(delays[3], MIN_WAIT_AFTER_429_MS, 'no Retry-After');
  assert.ok(delays.every((d) => d >= 30_000));
});

test('400 is surfaced with the status and the API\'s message, and not retried', async (t) => {
  const f = server(t);
  if (!f) return;
  const delays: number[] = [];
  const sink = sinkFor(f, {}, delays);
  f.script.push({ status: 400, body: JSON.stringify({ error: { code: 400, message: 'Invalid UDM event: metadata.event_type is required', status: 'INVALID_ARGUMENT' } }) });
  await assert.rejects(sink.write([udm(1), udm(2)]), (err: unknown) => {
    assert.ok(err instanceof ChronicleApiError);
    assert.equal(err.status, 400);
    assert.equal(err.retriable, false);
    assert.match(err.message, /HTTP 400: INVALID_ARGUMENT: Invalid UDM event: metadata\.event_type is required/);
    assert.match(err.message, /2 events not accepted/);
    return true;
  });
  assert.equal(f.imports.length, 1);
  assert.deepEqual(delays, []);
  // The next write is not blocked by the failed one.
  await sink.write([udm(3)]);
  assert.equal(f.imports.length, 2);
  await sink.close();
});

test('token endpoint refusal is a clear, final error', async (t) => {
  const f = server(t);
  if (!f) return;
  const sink = sinkFor(f);
  f.tokenScript.push({ status: 400, body: JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }) });
  await assert.rejects(sink.write([udm(1)]), /token request to https:\/\/127\.0\.0\.1:\d+\/token for brokerwatch-test@.*HTTP 400: invalid_grant: Invalid JWT Signature\./);
  assert.equal(f.imports.length, 0);
  await sink.close();
});

test('TLS is verified: without caFile the local server\'s certificate is refused', async (t) => {
  const f = server(t);
  if (!f) return;
  const sink = sinkFor(f, { caFile: undefined, maxAttempts: 1 });
  await assert.rejects(sink.write([udm(1)]), /self-signed certificate|unable to verify|certificate/i);
  assert.equal(f.imports.length, 0);
  await sink.close();
});

test('close() during a 429 wait ends it; writes after close reject', async (t) => {
  const f = server(t);
  if (!f) return;
  // The default (real) timer: close() must not wait 30 s.
  const sink = new ChronicleApiSink({ region: 'us', project: PROJECT, instance: INSTANCE, credentialsFile: f.credentialsFile, endpoint: f.origin, tokenUrl: f.tokenUrl, caFile: f.caFile });
  f.script.push({ status: 429 });
  const pending = sink.write([udm(1)]);
  while (f.imports.length === 0) await new Promise((r) => setTimeout(r, 10));
  const started = Date.now();
  await sink.close();
  await assert.rejects(pending, /closed/);
  assert.ok(Date.now() - started < 5_000);
  await assert.rejects(sink.write([udm(2)]), /write after close/);
});

test('importUrl: regional host by default, endpoint override, API version', () => {
  assert.equal(importUrl({ region: 'europe-west2', project: 'p-1', instance: 'abc-123' }).href,
    'https://europe-west2-chronicle.googleapis.com/v1alpha/projects/p-1/locations/europe-west2/instances/abc-123/events:import');
  assert.equal(importUrl({ region: 'us', project: '123456', instance: 'abc', apiVersion: 'v1', endpoint: 'https://chronicle.us.rep.googleapis.com/' }).href,
    'https://chronicle.us.rep.googleapis.com/v1/projects/123456/locations/us/instances/abc/events:import');
});

test('packRequests: every body within the cap, an event too big alone is reported, not sent', () => {
  const e = (n: number) => `{"udm":{"x":"${'a'.repeat(n)}"}}`;
  const { requests, oversize } = packRequests([e(100), e(100), e(5000), e(100)], 300);
  assert.deepEqual(oversize, [Buffer.byteLength(e(5000))]);
  assert.deepEqual(requests.map((r) => r.events.length), [2, 1], 'two small ones share a body; the big one is skipped');
  for (const r of requests) assert.ok(r.bytes <= 300);
  const joined = packRequests([e(10), e(10), e(10)], 1000);
  assert.equal(joined.requests.length, 1);
  assert.equal(joined.requests[0]?.bytes, Buffer.byteLength(`{"inlineSource":{"events":[${[e(10), e(10), e(10)].join(',')}]}}`));
});

test('retryAfterMs: seconds, HTTP date, garbage', () => {
  assert.equal(retryAfterMs('42', 0), 42_000);
  assert.equal(retryAfterMs('Thu, 01 Jan 1970 00:01:00 GMT', 0), 60_000);
  assert.equal(retryAfterMs('soon', 0), undefined);
  assert.equal(retryAfterMs('999999', 0), 3_600_000, 'capped at an hour');
  assert.equal(retryAfterMs(undefined, 0), undefined);
});

test('config schema: the shipped example parses; http, unknown keys and a cap above 4 MB are refused', () => {
  const example = YAML.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'config', 'examples', 'chronicle-api.yaml'), 'utf8')) as { sinks: unknown[] };
  const parsed = chronicleApiSinkSchema.parse(example.sinks[0]);
  assert.equal(parsed.type, 'chronicle-api');
  assert.equal(parsed.requestTimeout, 30_000);
  const base = { type: 'chronicle-api', region: 'us', project: 'p', instance: 'i', credentialsFile: '/etc/brokerwatch/sa.json' };
  assert.ok(chronicleApiSinkSchema.safeParse(base).success);
  assert.ok(!chronicleApiSinkSchema.safeParse({ ...base, endpoint: 'http://127.0.0.1:8080' }).success);
  assert.ok(!chronicleApiSinkSchema.safeParse({ ...base, projectt: 'x' }).success);
  assert.ok(!chronicleApiSinkSchema.safeParse({ ...base, maxRequestBytes: 4 * 1024 * 1024 }).success);
  assert.ok(!chronicleApiSinkSchema.safeParse({ ...base, instance: '../x' }).success);
});

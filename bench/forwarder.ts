/**
 * Forwarder throughput: events per second to a real rsyslog over TLS with the spool on, as a ratio
 * to writing the same bytes to the same kind of socket directly (goal: at least 0.5), and the spool's
 * disk bytes per event. Every run ends when rsyslog has written every byte to its output file, so
 * the collector's own speed is in all of them.
 *
 * Two baselines, because the spool path starts from records (the Sink API) and must turn them into
 * JSON, while "the same bytes" can be written without that:
 *  - direct, from records: the same serialiser (toJsonLine's bytes), then straight to the socket.
 *    Same input as the spool path: the ratio against it is the cost of the spool and the forwarder.
 *  - direct, pre-serialised: the bytes made before the clock starts. The ratio against it also
 *    charges JSON serialisation to the spool path (json_serialise_us_per_event shows its share).
 * Rounds alternate the paths so that a noisy neighbour hits them alike; medians are reported.
 * Run alone: node --import tsx bench/forwarder.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { OutRecord } from '../src/core/sink';
import { toJsonLine } from '../src/format/jsonline';
import { memoryLogger } from '../src/core/logger';
import { fastJsonLine } from '../src/sinks/delivery';
import { ForwarderSink, forwarderSinkSchema } from '../src/sinks/forwarder/forwarder';
import { SpooledSink, spoolSchema } from '../src/sinks/spool/spool';
import { freePort } from '../test/helpers/lab-net';
import { findTool, Rsyslog } from '../test/helpers/rsyslog';
import { makeTestPki, type TestPki } from '../test/helpers/test-pki';

const EVENTS = 50_000;
const BATCH = 500; // what the daemon hands its sinks at once
const ROUNDS = 3;

const serialise = (r: OutRecord) => fastJsonLine(r, toJsonLine);

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
}

/** UDM records as the formatter makes them (the golden fixtures), each with its own id. */
function records(): OutRecord[] {
  const dir = path.join(__dirname, '..', 'test', 'fixtures', 'udm');
  const base = ['connection-mqtt-tls', 'connection-stomp-ipv6-windows', 'finding-det0002', 'connection-time-wait']
    .map((n) => JSON.parse(fs.readFileSync(path.join(dir, `${n}.json`), 'utf8')) as OutRecord & { metadata: Record<string, unknown> });
  return Array.from({ length: EVENTS }, (_, i) => {
    const r = base[i % base.length] as (typeof base)[number];
    return { ...r, metadata: { ...r.metadata, product_log_id: `bench-${String(i).padStart(8, '0')}` } };
  });
}

function fileSize(file: string): number {
  return fs.existsSync(file) ? fs.statSync(file).size : 0;
}

async function waitForSize(file: string, size: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (fileSize(file) < size) {
    if (Date.now() > deadline) throw new Error(`rsyslog wrote ${fileSize(file)} of ${size} bytes in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Straight to a TLS socket, honouring backpressure; from records (serialised BATCH at a time) or from ready text. */
async function direct(r: Rsyslog, pki: TestPki, input: { text: string } | { recs: OutRecord[] }, bytes: number): Promise<number> {
  const start = fileSize(r.outFile);
  const t0 = performance.now();
  const socket = tls.connect({ host: '127.0.0.1', port: r.port, ca: fs.readFileSync(pki.caFile) });
  await new Promise<void>((res, rej) => socket.once('secureConnect', res).once('error', rej));
  const send = async (chunk: string) => {
    if (!socket.write(chunk)) await new Promise((res) => socket.once('drain', res));
  };
  if ('text' in input) {
    for (let i = 0; i < input.text.length; i += 256 * 1024) await send(input.text.slice(i, i + 256 * 1024));
  } else {
    for (let i = 0; i < input.recs.length; i += BATCH) await send(`${input.recs.slice(i, i + BATCH).map(serialise).join('\n')}\n`);
  }
  await waitForSize(r.outFile, start + bytes);
  const ms = performance.now() - t0;
  socket.end();
  return ms;
}

/** The records through SpooledSink + ForwarderSink, BATCH at a time like the daemon. */
async function spooled(r: Rsyslog, pki: TestPki, recs: OutRecord[], bytes: number, dir: string, fsync: 'always' | 'interval') {
  const start = fileSize(r.outFile);
  const log = memoryLogger([]);
  const forwarder = new ForwarderSink(forwarderSinkSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: r.port, tls: { enabled: true, caFile: pki.caFile } }), { log });
  const sink = await SpooledSink.open(spoolSchema.parse({ path: path.join(dir, `spool-${fsync}`), fsync }), forwarder, { log });
  const t0 = performance.now();
  for (let i = 0; i < recs.length; i += BATCH) await sink.write(recs.slice(i, i + BATCH));
  await waitForSize(r.outFile, start + bytes);
  const arrivedMs = performance.now() - t0;
  await sink.flush();
  const confirmedMs = performance.now() - t0;
  const stats = sink.stats();
  const appended = sink.spool.counters.appendedBytes;
  await sink.close();
  if (stats.pending !== 0 || stats.delivered !== recs.length) throw new Error(`spool not drained: ${JSON.stringify(stats)}`);
  return { arrivedMs, confirmedMs, appended };
}

/** `print`: the human tables on stdout (off for `npm run bench -- --json`, whose stdout is one JSON document). */
export async function benchForwarder(print = true): Promise<Record<string, number | string>> {
  const rsyslogd = findTool('rsyslogd');
  const openssl = findTool('openssl');
  if (!rsyslogd || !openssl) return { skipped: 'needs rsyslogd and openssl (apt-get install rsyslog rsyslog-gnutls openssl)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-bench-forwarder-'));
  try {
    const pki = await makeTestPki(openssl, path.join(dir, 'pki'));
    const r = new Rsyslog(rsyslogd, path.join(dir, 'rsyslog'), await freePort(), { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey });
    await r.start();
    try {
      const recs = records();
      const t = performance.now();
      const text = `${recs.map(serialise).join('\n')}\n`;
      const serialiseUs = ((performance.now() - t) * 1000) / EVENTS;
      const bytes = Buffer.byteLength(text, 'utf8');
      await direct(r, pki, { text: text.slice(0, text.lastIndexOf('\n', 2_000_000) + 1) }, text.lastIndexOf('\n', 2_000_000) + 1); // warm-up
      const runs = { fromRecords: [] as number[], preSerialised: [] as number[], interval: [] as number[], confirmed: [] as number[], always: [] as number[] };
      let appended = 0;
      for (let round = 0; round < ROUNDS; round++) {
        runs.preSerialised.push(await direct(r, pki, { text }, bytes));
        runs.fromRecords.push(await direct(r, pki, { recs }, bytes));
        const iv = await spooled(r, pki, recs, bytes, path.join(dir, `round-${round}`), 'interval');
        runs.interval.push(iv.arrivedMs);
        runs.confirmed.push(iv.confirmedMs);
        appended = iv.appended;
        runs.always.push((await spooled(r, pki, recs, bytes, path.join(dir, `round-${round}`), 'always')).arrivedMs);
      }
      const eps = (ms: number) => Math.round((EVENTS / ms) * 1000);
      const ratio = (a: number[], b: number[]) => Number((median(b) / median(a)).toFixed(2));
      const result = {
        events: EVENTS,
        rounds: ROUNDS,
        bytes_per_event: Math.round(bytes / EVENTS),
        json_serialise_us_per_event: Number(serialiseUs.toFixed(2)),
        direct_from_records_events_per_s: eps(median(runs.fromRecords)),
        direct_pre_serialised_events_per_s: eps(median(runs.preSerialised)),
        spooled_events_per_s: eps(median(runs.interval)),
        spooled_confirmed_events_per_s: eps(median(runs.confirmed)),
        spooled_fsync_always_events_per_s: eps(median(runs.always)),
        ratio_spooled_to_direct: ratio(runs.interval, runs.fromRecords),
        ratio_spooled_to_pre_serialised: ratio(runs.interval, runs.preSerialised),
        ratio_fsync_always_to_direct: ratio(runs.always, runs.fromRecords),
        spool_disk_bytes_per_event: Number((appended / EVENTS).toFixed(1)),
      };
      if (!print) return result;
      console.log(`== forwarder: ${EVENTS} UDM events to rsyslog over TLS, median of ${ROUNDS} rounds (until rsyslog wrote them all)`);
      console.table([
        { path: 'direct TLS socket, from records (serialise + write)', 'events/s': result.direct_from_records_events_per_s, ratio: 1 },
        { path: 'direct TLS socket, bytes serialised beforehand', 'events/s': result.direct_pre_serialised_events_per_s, ratio: ratio(runs.preSerialised, runs.fromRecords) },
        { path: 'SpooledSink + forwarder, fsync interval', 'events/s': result.spooled_events_per_s, ratio: result.ratio_spooled_to_direct },
        { path: 'SpooledSink + forwarder, fsync always', 'events/s': result.spooled_fsync_always_events_per_s, ratio: result.ratio_fsync_always_to_direct },
      ]);
      console.log(`spool: ${result.spool_disk_bytes_per_event} disk bytes per event (${result.bytes_per_event} bytes of JSON line + 9 of checksum and separator); `
        + `JSON serialisation alone: ${result.json_serialise_us_per_event} us per event; against pre-serialised bytes the spool path reaches ${result.ratio_spooled_to_pre_serialised}`);
      return result;
    } finally {
      await r.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchForwarder().then((r) => {
    if (typeof r.skipped === 'string') console.log(`forwarder bench skipped: ${r.skipped}`);
  }).catch((err: Error) => {
    console.error(err);
    process.exitCode = 1;
  });
}

/**
 * brokerReputationFeeds end to end with real parts: an HTTPS server on loopback with an
 * openssl-made certificate, real file feeds, the daemon judging events against what the feeds
 * loaded. A failed download keeps the last good list and says so; bad lines are reported with
 * their line numbers; host names are resolved (with a fixed resolver table).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { compileRules } from '../../src/analyzer/rules';
import { judge } from '../../src/analyzer/judge';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { memoryLogger } from '../../src/core/logger';
import type { Source } from '../../src/core/source';
import type { ConnectionEvent } from '../../src/core/types';
import { Daemon } from '../../src/engine/daemon';
import { fetchFeed } from '../../src/engine/feed-fetch';
import { ReputationFeeds } from '../../src/engine/reputation-feeds';
import { createUdmFormatter } from '../../src/format/udm';
import { MemorySink } from '../../src/sinks';
import { findExecutable } from '../helpers/lab-process';
import { makeTestPki, type TestPki } from '../helpers/test-pki';
import { until as waitUntil } from '../helpers/until';

const until = <T>(what: string, fn: () => T | undefined | false | null, timeoutMs = 10000): Promise<T> => waitUntil(what, fn, timeoutMs, 20);

let dir: string;
let pki: TestPki | null = null;
let server: https.Server | null = null;
let url = '';
/** What the server answers next: a status and a body. */
let reply: { status: number; body: string; location?: string } = { status: 200, body: '' };
let requests = 0;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-feeds-'));
  const openssl = findExecutable('openssl');
  if (!openssl) {
    if (process.env.CI === 'true') throw new Error('openssl is required (CI=true): apt-get install openssl');
    return;
  }
  pki = await makeTestPki(openssl, path.join(dir, 'pki'));
  server = https.createServer({ cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) }, (req, res) => {
    requests++;
    res.writeHead(reply.status, { 'content-type': 'text/plain', ...(reply.location ? { location: reply.location } : {}) });
    res.end(reply.body);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/c2-brokers.txt`;
});

after(async () => {
  if (server) await new Promise((r) => server?.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

function event(ip: string, port = 1883): ConnectionEvent {
  return {
    time: '2025-11-03T10:00:00.000Z', adapter: 'procfs', transport: 'tcp', family: ip.includes(':') ? 6 : 4, state: 'ESTABLISHED',
    source: { ip: '10.0.0.5', port: 40000 }, destination: { ip, port },
    process: { pid: 4242, exe: '/opt/fleet/bin/agent', name: 'agent', startTime: '2025-11-03T09:00:00.000Z' },
  };
}

function configWith(feeds: string): Config {
  const file = path.join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, `brokerReputationFeeds: ${feeds}\n`);
  return loadConfig([file]).config;
}

test('HTTPS feed: loads, reports bad lines by number, keeps the last good list when a download fails, then updates', async (t) => {
  if (!pki) return t.skip('openssl not installed');
  reply = { status: 200, body: '# test feed\n198.51.100.66\nbogus entry\n2001:db8::66\n' };
  const config = configWith(`[{ source: ${JSON.stringify(url)}, caFile: ${JSON.stringify(pki.caFile)}, refresh: 100ms }]`);
  const rules = compileRules(config, { platform: 'linux' });
  const entries: { level: string; message: string }[] = [];
  const feeds = new ReputationFeeds(config.brokerReputationFeeds, { log: memoryLogger(entries) });
  t.after(() => feeds.stop());
  await feeds.loadAll();
  feeds.attach(rules.reputation);
  assert.deepEqual(feeds.status()[0]?.entries, 2);
  assert.ok(entries.some((e) => e.level === 'warn' && /1 bad line skipped \(line 3: not an IP address, CIDR block or host name: "bogus entry"\); 2 entries loaded/.test(e.message)), JSON.stringify(entries));
  const j = judge(event('198.51.100.66'), rules);
  assert.deepEqual(j?.finding?.rules, ['BROKER-REPUTATION']);
  assert.equal(j?.finding?.severity, 'CRITICAL');
  assert.match(j?.finding?.reasons[0] ?? '', /brokerReputationList \(198\.51\.100\.66: feed https:/);
  assert.equal(judge(event('2001:db8::66'), rules)?.finding?.severity, 'CRITICAL');

  // The server fails: the last good list stays, said once per episode.
  let changes = 0;
  feeds.onChange = () => { changes++; };
  reply = { status: 503, body: 'maintenance' };
  feeds.start();
  const before = requests;
  await until('two failed refreshes', () => requests >= before + 2 && (feeds.status()[0]?.failures ?? 0) >= 2);
  const s = feeds.status()[0];
  assert.equal(s?.lastError, 'HTTP 503');
  assert.equal(s?.entries, 2);
  assert.equal(judge(event('198.51.100.66'), rules)?.finding?.severity, 'CRITICAL', 'the last good list still judges');
  assert.equal(entries.filter((e) => /download failed \(HTTP 503\); keeping the last good list \(2 entries from /.test(e.message)).length, 1, 'said once per episode');

  // Back, with a CSV: the new list replaces the old one, and the recovery is said.
  reply = { status: 200, body: 'indicator,type\n198.51.100.77,ipv4\nc2.example.net,domain\n' };
  await until('the new list', () => feeds.status()[0]?.lastError === null && feeds.status()[0]?.entries === 2 && changes > 0);
  assert.equal(feeds.status()[0]?.format, 'csv');
  assert.equal(judge(event('198.51.100.66'), rules)?.finding?.rules.includes('BROKER-REPUTATION'), false);
  assert.equal(judge(event('198.51.100.77'), rules)?.finding?.severity, 'CRITICAL');
  assert.ok(entries.some((e) => e.level === 'info' && /loaded again after \d+ failed attempt/.test(e.message)));
  // Host names from the feed resolve like the allowlist's.
  assert.equal(judge(event('198.51.100.78'), rules)?.finding?.rules.includes('BROKER-REPUTATION'), false);
  assert.deepEqual(await rules.reputation.resolve(async (h) => (h === 'c2.example.net' ? ['198.51.100.78'] : [])), []);
  assert.equal(judge(event('198.51.100.78'), rules)?.finding?.severity, 'CRITICAL');
});

test('HTTPS feed: a certificate from the wrong CA, a redirect and an HTML error page are failures, not lists', async (t) => {
  if (!pki) return t.skip('openssl not installed');
  reply = { status: 200, body: '198.51.100.66\n' };
  await assert.rejects(fetchFeed(url, { caFile: pki.otherCaFile }), /certificate/i);
  reply = { status: 302, body: '', location: 'https://elsewhere.example.com/feed' };
  await assert.rejects(fetchFeed(url, { caFile: pki.caFile }), /HTTP 302 \(redirect to https:\/\/elsewhere\.example\.com\/feed, not followed\)/);
  reply = { status: 200, body: '<html><body>Sign in</body></html>\n' };
  const entries: { level: string; message: string }[] = [];
  const feeds = new ReputationFeeds(configWith(`[{ source: ${JSON.stringify(url)}, caFile: ${JSON.stringify(pki.caFile)} }]`).brokerReputationFeeds, { log: memoryLogger(entries) });
  await feeds.loadAll();
  assert.equal(feeds.status()[0]?.entries, 0);
  assert.match(feeds.status()[0]?.lastError ?? '', /^no valid entry; 1 bad \(first: line 1:/);
  assert.ok(entries.some((e) => /load failed|no valid entry/.test(e.message)));
});

test('config: http:// and relative paths are refused; a file feed with STIX loads', async () => {
  assert.throws(() => configWith('[{ source: "http://intel.example.com/feed.txt" }]'), /absolute file path or an https:\/\/ URL/);
  assert.throws(() => configWith('[{ source: "feeds/bad.txt" }]'), /absolute file path/);
  const file = path.join(dir, 'feed.json');
  fs.writeFileSync(file, JSON.stringify({ type: 'bundle', id: 'bundle--1', objects: [{ type: 'indicator', spec_version: '2.1', id: 'indicator--1', pattern_type: 'stix', pattern: "[ipv4-addr:value = '198.51.100.99']", valid_from: '2025-01-01T00:00:00Z' }] }));
  const feeds = new ReputationFeeds(configWith(`[{ source: ${JSON.stringify(file)} }]`).brokerReputationFeeds, { log: memoryLogger([]) });
  await feeds.loadAll();
  assert.deepEqual(feeds.status()[0], { source: file, format: 'stix', entries: 1, loadedAt: feeds.status()[0]?.loadedAt, badLines: 0, lastError: null, failures: 0 });
  assert.equal(typeof feeds.status()[0]?.loadedAt, 'string');
});

test('the daemon loads feeds before the first event, keeps them over a reload, and shows them in its state', async () => {
  const file = path.join(dir, 'daemon-feed.txt');
  fs.writeFileSync(file, '198.51.100.55\n');
  const config = configWith(`[{ source: ${JSON.stringify(file)}, refresh: 1h }]`);
  let emit: ((e: ConnectionEvent) => void) | null = null;
  const source: Source = { name: 'test-events', start: async (e) => { emit = e; }, close: async () => undefined };
  const sink = new MemorySink();
  const host = { hostname: 'sensor-01.example.net', platform: 'linux' as const };
  const udm = createUdmFormatter(host, { version: '0.0.0' });
  const daemon = new Daemon({ host, log: memoryLogger([]), formatters: { udm, ocsf: udm, sysmon: udm }, outputs: [{ sink, format: 'udm' }], createSource: async () => source });
  await daemon.start(config);
  try {
    assert.deepEqual(daemon.reputationFeeds.map((f) => [f.source, f.entries]), [[file, 1]]);
    emit!(event('198.51.100.55', 5222));
    await until('a finding', () => sink.records.length > 0);
    const sr = (sink.records[0] as { security_result?: { rule_id?: string; severity?: string }[] }).security_result?.[0];
    assert.equal(sr?.rule_id, 'BROKER-REPUTATION');
    assert.equal(sr?.severity, 'CRITICAL');
    // A reload with the same feeds keeps the loaded list in the new rules (no reload of the feed).
    fs.writeFileSync(file, '198.51.100.56\n');
    await daemon.reload({ ...config, timeWindow: 30 * 60_000 });
    emit!(event('198.51.100.55', 5222));
    await until('a second finding', () => sink.records.length > 1);
    assert.equal((sink.records[1] as { security_result?: { severity?: string }[] }).security_result?.[0]?.severity, 'CRITICAL');
  } finally {
    await daemon.stop();
  }
});

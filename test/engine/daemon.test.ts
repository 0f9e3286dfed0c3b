/**
 * The Daemon without root: recorded events from in-memory polling sources (MemorySource, through
 * the real Poller) into the memory sink. What goes wrong in capture reaches the counters, status
 * and the log (rate-limited); a reload starts the new capture before the old one closes and is
 * refused, with the old capture still running, when the new one cannot start.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig, mergeConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { collectStatus, formatStatus } from '../../src/control/status';
import { memoryLogger } from '../../src/core/logger';
import { type MemoryBatch, MemorySource } from '../../src/core/memory-source';
import type { HostFacts } from '../../src/core/types';
import { Daemon, ReloadRefusedError } from '../../src/engine/daemon';
import { createOcsfFormatter } from '../../src/format/ocsf';
import { createSysmonFormatter } from '../../src/format/sysmon';
import { createUdmFormatter } from '../../src/format/udm';
import { MemorySink } from '../../src/sinks/memory';
import { event } from '../analyzer/_events';

const host: HostFacts = { hostname: 'lab-host', platform: 'linux' };
const configWith = (over: Record<string, unknown>): Config => mergeConfig(loadConfig().config, { beaconing: { enabled: false }, ...over }) as Config;

interface Planned { batches?: MemoryBatch[]; unavailable?: string }

/** A daemon whose capture for each start/reload is the next planned MemorySource. */
function harness(plans: Planned[]) {
  const entries: { level: string; message: string }[] = [];
  const log = memoryLogger(entries);
  const sink = new MemorySink();
  const history: string[] = [];
  const sources: MemorySource[] = [];
  const daemon = new Daemon({
    host,
    log,
    formatters: { udm: createUdmFormatter(host, { version: 'test' }), ocsf: createOcsfFormatter(host, { version: 'test' }), sysmon: createSysmonFormatter(host, { agentPid: 1 }) },
    outputs: [{ sink, format: 'udm' }],
    createSource: async (config) => {
      const plan = plans[sources.length] ?? {};
      const s = new MemorySource(`mem-${config.adapter}`, plan.batches ?? [], { log, history, ...(plan.unavailable !== undefined ? { unavailable: plan.unavailable } : {}) });
      sources.push(s);
      return s;
    },
    healthIntervalMs: 60_000, // the tests sample health themselves, at known points
    resolver: async () => [],
  });
  return { daemon, sink, entries, history, sources };
}

async function until(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !fn(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(fn(), `timed out waiting for ${what}`);
}

const external = (ip: string, exe = '/usr/bin/python3') => event({ ip, port: 1883, exe, argv: [exe, 'c2.py'] });
const ruleIds = (r: unknown) => ((r as { security_result?: { rule_id?: string }[] }).security_result ?? []).map((s) => s.rule_id);

describe('Daemon: what goes wrong in capture is counted, shown and logged once', () => {
  test('failed polls, warnings and lost events reach the counters, status (--json and human) and the log', async () => {
    const h = harness([{ batches: [
      { events: [external('198.51.100.7')] },
      { warnings: [{ code: 'proc-eacces', message: 'cannot list /proc/<pid>/fd of some processes', count: 2 }] },
      { error: 'EACCES: permission denied, open /proc/net/tcp' },
      { error: 'EACCES: permission denied, open /proc/net/tcp' },
      { warnings: [{ code: 'proc-eacces', message: 'cannot list /proc/<pid>/fd of some processes', count: 1 }], lost: 4 },
      { events: [external('198.51.100.8')] },
    ] }]);
    await h.daemon.start(configWith({ adapter: 'procfs' }));
    const source = h.sources[0] as MemorySource;
    await source.afterPolls(1); // the second poll (the first ran in start()): two warnings
    h.daemon.sampleHealth();
    await source.afterPolls(4);
    await until('both events judged', () => h.daemon.counters.eventsJudged === 2 && h.daemon.queueLength === 0);
    h.daemon.sampleHealth();
    const status = collectStatus(h.daemon, { version: 't', configFiles: [], controlSocket: '/x' });
    assert.deepEqual(status.capture, {
      source: 'mem-procfs', fallbacks: [], eventsLost: 4, pollErrors: 2, lastError: 'EACCES: permission denied, open /proc/net/tcp',
      warnings: [{ code: 'proc-eacces', message: 'cannot list /proc/<pid>/fd of some processes', count: 3 }],
    });
    assert.equal(status.lastError, 'capture mem-procfs: EACCES: permission denied, open /proc/net/tcp');
    const human = formatStatus(JSON.parse(JSON.stringify(status)));
    assert.match(human, /\n {2}problems: {2}2 failed polls \(last: EACCES: permission denied, open \/proc\/net\/tcp\), 4 events lost\n/);
    assert.match(human, /\n {2}warnings: {2}proc-eacces x3 \(latest: cannot list \/proc\/<pid>\/fd of some processes\)\n/);
    await h.daemon.stop();
    // Poller lines come as polls fail and recover, health lines at the samples: each is there exactly once.
    const lines = h.entries.map((e) => `${e.level} ${e.message}`);
    const one = (re: RegExp) => assert.equal(lines.filter((l) => re.test(l)).length, 1, `${re}:\n${lines.join('\n')}`);
    one(/^warn mem-procfs: poll failed: EACCES: permission denied, open \/proc\/net\/tcp; retrying every 5 ms/);
    one(/^info mem-procfs: polls work again after 2 failed over \d+ s \(last error: EACCES/);
    one(/^warn mem-procfs: proc-eacces: cannot list .* \(2 times\) - repeats are summed up/);
    one(/^warn mem-procfs: events-lost: 4 events lost so far by mem-procfs/);
    one(/^warn mem-procfs: proc-eacces: 1 more in the last \d+ s/);
    assert.equal(lines.length, 5, lines.join('\n'));
  });
});

describe('Daemon.reload: never blind', () => {
  test('a capture change starts the new capture before the old one closes; totals survive the swap', async () => {
    const h = harness([{ batches: [{}, { error: 'EIO' }, {}] }, { batches: [{}, { events: [external('198.51.100.9')] }] }]);
    await h.daemon.start(configWith({ adapter: 'procfs' }));
    await h.sources[0]?.afterPolls(3);
    const { notes } = await h.daemon.reload(configWith({ adapter: 'lsof' }));
    assert.deepEqual(notes, []);
    assert.deepEqual(h.history, ['mem-procfs start', 'mem-procfs started', 'mem-lsof start', 'mem-lsof started', 'mem-procfs close', 'mem-procfs closed']);
    assert.equal(h.daemon.sourceName, 'mem-lsof');
    await until('the new capture delivers', () => h.sink.records.length === 1);
    assert.equal(h.daemon.captureHealth().pollErrors, 1, 'the old capture\'s failed poll is still counted');
    await h.daemon.stop();
  });

  test('the new capture cannot start: the reload is refused, the old capture and the old rules stay, status says why', async () => {
    const h = harness([{ batches: [{}] }, { unavailable: 'lsof not found (looked in /usr/sbin/lsof, /usr/bin/lsof)' }]);
    await h.daemon.start(configWith({ adapter: 'procfs' }));
    await assert.rejects(
      h.daemon.reload(configWith({ adapter: 'lsof', brokerAllowList: ['198.51.100.7'] })),
      (e: Error) => e instanceof ReloadRefusedError && e.message === 'the new capture could not start (mem-lsof adapter unavailable: lsof not found (looked in /usr/sbin/lsof, /usr/bin/lsof)); the previous capture (mem-procfs) keeps running',
    );
    assert.deepEqual(h.sources[1]?.history, ['start', 'close', 'closed'], 'the failed capture was closed');
    assert.equal(h.sources[0]?.history.at(-1), 'started', 'the old capture still runs');
    h.sources[0]?.push({ events: [external('198.51.100.7')] });
    await until('the old capture still delivers', () => h.sink.records.length === 1);
    assert.deepEqual(ruleIds(h.sink.records[0]), ['PUBSUB-EXTERNAL'], 'the refused allowlist did not take effect');
    const status = collectStatus(h.daemon, { version: 't', configFiles: [], controlSocket: '/x' });
    assert.equal(status.capture.source, 'mem-procfs');
    assert.match(status.lastError as string, /^reload: the new capture could not start: mem-lsof adapter unavailable: lsof not found/);
    await h.daemon.stop();
  });

  test('rules change without a capture restart; sink and logging changes are said to need a restart', async () => {
    const h = harness([{ batches: [{}] }]);
    await h.daemon.start(configWith({ adapter: 'procfs' }));
    const { notes } = await h.daemon.reload(configWith({ adapter: 'procfs', brokerAllowList: ['198.51.100.7'], sinks: [{ type: 'file', path: '/var/log/x.jsonl' }], logging: { level: 'debug', file: null } }));
    assert.equal(h.sources.length, 1, 'no new capture');
    assert.deepEqual(notes, [
      'sinks changed: a reload does not apply it - the agent keeps its current sinks until it restarts (restart the service to apply)',
      'logging changed: a reload does not apply it - the agent keeps its current logging until it restarts (restart the service to apply)',
    ]);
    h.sources[0]?.push({ events: [external('198.51.100.7')] });
    await until('the event', () => h.sink.records.length === 1);
    assert.deepEqual(ruleIds(h.sink.records[0]), [], 'the new allowlist applies at once');
    h.daemon.recordReload(true, 'configuration reloaded');
    const status = collectStatus(h.daemon, { version: 't', configFiles: [], controlSocket: '/x' });
    assert.equal(status.lastReload?.ok, true);
    assert.match(formatStatus(status), /\nlast reload: applied at \d{4}-.*: configuration reloaded\n/);
    await h.daemon.stop();
  });
});

/**
 * Sink changes on reload, without root: the daemon opens the new outputs while the old ones still
 * write, swaps between two writes, then flushes and closes the old ones; a sink that cannot open
 * refuses the reload; a change that would take a running spool's folder needs a restart.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { memoryLogger } from '../../src/core/logger';
import { MemorySource } from '../../src/core/memory-source';
import type { OutRecord } from '../../src/core/sink';
import type { HostFacts } from '../../src/core/types';
import { Daemon, ReloadRefusedError } from '../../src/engine/daemon';
import { openChangedOutputs, spoolFolder } from '../../src/engine/outputs';
import { createOcsfFormatter } from '../../src/format/ocsf';
import { createSysmonFormatter } from '../../src/format/sysmon';
import { createUdmFormatter } from '../../src/format/udm';
import { createOutput, type Output } from '../../src/sinks';
import { MemorySink } from '../../src/sinks/memory';
import { event } from '../analyzer/_events';

const host: HostFacts = { hostname: 'lab-host', platform: 'linux' };
/** A config parsed as a --config file would be (sink defaults filled in). */
const parsed = (over: Record<string, unknown>): Config => loadConfig(['t.yaml'], () => JSON.stringify({ adapter: 'procfs', beaconing: { enabled: false, minConnections: 5, maxJitter: 0.2, minPeriod: '1s', maxTracked: 10 }, ...over })).config;
const fileSink = (p: string) => ({ type: 'file', path: p });

/** A sink that records its life: writes land in `records`, flush/close in `history`. */
class WatchedSink extends MemorySink {
  readonly history: string[] = [];
  override async write(records: OutRecord[]): Promise<void> {
    await super.write(records);
  }
  override async flush(): Promise<void> {
    this.history.push('flush');
  }
  override async close(): Promise<void> {
    this.history.push('close');
    await super.close();
  }
}

function harness(initial: Config['sinks'], fail: Record<string, string> = {}) {
  const sinks = new Map<string, WatchedSink>();
  const openOutput = async (spec: Config['sinks'][number]): Promise<Output> => {
    const name = spec.type === 'file' ? spec.path : spec.type;
    if (fail[name]) throw new Error(fail[name]);
    const sink = new WatchedSink(name);
    sinks.set(name, sink);
    return { sink, format: 'udm' };
  };
  const first = initial.map((spec) => {
    const sink = new WatchedSink(spec.type === 'file' ? spec.path : spec.type);
    sinks.set(sink.name, sink);
    return { sink, format: 'udm' as const };
  });
  const source = new MemorySource('mem', [{}]);
  const entries: { level: string; message: string }[] = [];
  const daemon = new Daemon({
    host,
    log: memoryLogger(entries),
    formatters: { udm: createUdmFormatter(host, { version: 't' }), ocsf: createOcsfFormatter(host, { version: 't' }), sysmon: createSysmonFormatter(host, { agentPid: 1 }) },
    outputs: first,
    openOutput,
    createSource: async () => source,
    healthIntervalMs: 60_000,
    resolver: async () => [],
  });
  return { daemon, sinks, source, entries };
}

async function until(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !fn(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(fn(), `timed out waiting for ${what}`);
}

const external = (ip: string) => event({ ip, port: 1883, exe: '/usr/bin/python3' });

describe('reload applies sink changes', () => {
  test('new outputs open first; unchanged ones keep running; the ones that left are flushed, then closed', async () => {
    const a = fileSink('/var/log/a.jsonl');
    const b = fileSink('/var/log/b.jsonl');
    const h = harness(parsed({ sinks: [a, b] }).sinks);
    await h.daemon.start(parsed({ sinks: [a, b] }));
    h.source.push({ events: [external('198.51.100.7')] });
    await until('the first record in a and b', () => h.sinks.get('/var/log/b.jsonl')?.records.length === 1);
    const keptA = h.daemon.currentOutputs[0];
    const { notes } = await h.daemon.reload(parsed({ sinks: [a, fileSink('/var/log/c.jsonl')] }));
    assert.deepEqual(notes, ['sinks applied: opened /var/log/c.jsonl; flushed and closed /var/log/b.jsonl']);
    assert.equal(h.daemon.currentOutputs[0], keptA, 'an unchanged sink is the same running output');
    assert.deepEqual(h.sinks.get('/var/log/b.jsonl')?.history, ['flush', 'close']);
    h.source.push({ events: [external('198.51.100.8')] });
    await until('the second event judged and sent', () => h.daemon.counters.eventsJudged === 2 && h.daemon.queueLength === 0 && (h.sinks.get('/var/log/c.jsonl')?.records.length ?? 0) > 0);
    await h.daemon.stop();
    const c = h.sinks.get('/var/log/c.jsonl')?.records.length ?? 0; // the finding, and the window's correlation (#net > 1)
    assert.equal(h.sinks.get('/var/log/a.jsonl')?.records.length, 1 + c, 'the kept sink got everything the new one got');
    assert.equal(h.sinks.get('/var/log/b.jsonl')?.records.length, 1, 'nothing went to the closed sink');
    assert.deepEqual(h.sinks.get('/var/log/c.jsonl')?.history, ['flush', 'close']);
  });

  test('a new sink that cannot open: the reload is refused, what was opened is closed, the old sinks keep writing', async () => {
    const a = fileSink('/var/log/a.jsonl');
    const h = harness(parsed({ sinks: [a] }).sinks, { '/var/log/bad.jsonl': 'EACCES: permission denied' });
    await h.daemon.start(parsed({ sinks: [a] }));
    await assert.rejects(
      h.daemon.reload(parsed({ sinks: [fileSink('/var/log/new.jsonl'), fileSink('/var/log/bad.jsonl')], brokerAllowList: ['198.51.100.7'] })),
      (e: Error) => e instanceof ReloadRefusedError && e.message === 'sink 1 (file) could not open: EACCES: permission denied; the previous sinks keep running',
    );
    assert.deepEqual(h.sinks.get('/var/log/new.jsonl')?.history, ['close'], 'the sink opened for the refused reload is closed');
    h.source.push({ events: [external('198.51.100.7')] });
    await until('a record in the old sink', () => h.sinks.get('/var/log/a.jsonl')?.records.length === 1);
    await h.daemon.stop();
  });

  test('a new spool in the folder a running spool holds: not applied, the reply says a restart is needed', async () => {
    const fwd = (hostName: string) => ({ type: 'forwarder', host: hostName, port: 10514 });
    const before = parsed({ sinks: [fwd('198.51.100.20')], stateDir: '/var/lib/bw' });
    const h = harness(before.sinks);
    await h.daemon.start(before);
    const { notes } = await h.daemon.reload(parsed({ sinks: [fwd('198.51.100.21')], stateDir: '/var/lib/bw' }));
    assert.deepEqual(notes, ['sinks changed: sink 0 (forwarder) would take the spool folder /var/lib/bw/spool/forwarder-0, which a running sink holds, so a reload cannot apply it - the agent keeps its current sinks until it restarts (restart the service to apply)']);
    assert.equal(h.daemon.currentOutputs[0]?.sink.name, 'forwarder');
    assert.deepEqual((h.daemon.currentOutputs[0]?.sink as WatchedSink).history, []);
    await h.daemon.stop();
  });
});

describe('openChangedOutputs with the real sinks', () => {
  test('a file sink that cannot open is named with the reason, before any write', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-outputs-'));
    try {
      const notADir = path.join(dir, 'plain-file');
      fs.writeFileSync(notADir, '');
      const specs = parsed({ sinks: [fileSink(path.join(dir, 'ok.jsonl')), fileSink(path.join(notADir, 'x.jsonl'))] }).sinks;
      const open = (spec: Config['sinks'][number], i: number, stateDir: string) => createOutput(spec, i, { log: memoryLogger([]), stateDir });
      await assert.rejects(openChangedOutputs({ specs: [], outputs: [], stateDir: dir }, specs, dir, open), /^Error: sink 1 \(file\) could not open: file sink .*plain-file\/x\.jsonl: .*EEXIST/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('spoolFolder: the default folder per type and index, a given path, or none', () => {
    const [f, c, off, file] = parsed({ sinks: [
      { type: 'forwarder', host: 'h' },
      { type: 'chronicle-api', project: 'p', instance: 'i', credentialsFile: '/k.json', region: 'us', spool: { path: '/spool/c' } },
      { type: 'forwarder', host: 'h', spool: false },
      fileSink('/x'),
    ] }).sinks;
    assert.equal(spoolFolder(f as Config['sinks'][number], 0, '/var/lib/bw'), '/var/lib/bw/spool/forwarder-0');
    assert.equal(spoolFolder(c as Config['sinks'][number], 1, '/var/lib/bw'), '/spool/c');
    assert.equal(spoolFolder(off as Config['sinks'][number], 2, '/var/lib/bw'), null);
    assert.equal(spoolFolder(file as Config['sinks'][number], 3, '/var/lib/bw'), null);
  });
});

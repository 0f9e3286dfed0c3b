/**
 * A sink that keeps failing is said once per episode, not once per write: a real FileSink whose
 * path is a symbolic link (refused: the agent does not follow links) fails every write; the daemon
 * counts each failure (sinkErrors, lastError), logs the first, and says so once when the sink works
 * again, with the count. The other sink keeps receiving everything meanwhile.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadConfig, mergeConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { memoryLogger } from '../../src/core/logger';
import { MemorySource } from '../../src/core/memory-source';
import type { HostFacts } from '../../src/core/types';
import { Daemon } from '../../src/engine/daemon';
import { createOcsfFormatter } from '../../src/format/ocsf';
import { createSysmonFormatter } from '../../src/format/sysmon';
import { createUdmFormatter } from '../../src/format/udm';
import { FileSink } from '../../src/sinks/file';
import { MemorySink } from '../../src/sinks/memory';
import { event } from '../analyzer/_events';

const host: HostFacts = { hostname: 'lab-host', platform: 'linux' };
const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'bw-sink-errors-')));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a failing sink: every failure counted, one error line per episode, one line when it works again', async () => {
  const file = path.join(dir, 'events.jsonl');
  fs.writeFileSync(path.join(dir, 'elsewhere'), '');
  fs.symlinkSync(path.join(dir, 'elsewhere'), file);
  const entries: { level: string; message: string }[] = [];
  const log = memoryLogger(entries);
  const memory = new MemorySink();
  const ev = (i: number) => event({ ip: `198.51.100.${i}`, port: 1883, exe: '/usr/bin/python3', argv: ['/usr/bin/python3', 'c2.py'] });
  const source = new MemorySource('mem', [], { log });
  const daemon = new Daemon({
    host,
    log,
    formatters: { udm: createUdmFormatter(host, { version: 'test' }), ocsf: createOcsfFormatter(host, { version: 'test' }), sysmon: createSysmonFormatter(host, { agentPid: 1 }) },
    outputs: [{ sink: new FileSink({ path: file }), format: 'udm' }, { sink: memory, format: 'udm' }],
    createSource: async () => source,
    healthIntervalMs: 60_000,
    resolver: async () => [],
  });
  await daemon.start(mergeConfig(loadConfig().config, { beaconing: { enabled: false } }) as Config);
  let stopped = false;
  after(() => (stopped ? undefined : daemon.stop()));
  const until = async (what: string, fn: () => boolean) => {
    for (let i = 0; i < 2000 && !fn(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(fn(), `timed out waiting for ${what}`);
  };
  const findings = () => memory.records.filter((r) => 'security_result' in r).length;
  // One event at a time, each written before the next: five writes, five failures.
  for (let i = 1; i <= 5; i++) {
    source.push({ events: [ev(i)] });
    await until(`finding ${i} in the memory sink`, () => findings() >= i && daemon.counters.sinkErrors >= i);
  }
  const sinkLines = () => entries.filter((e) => e.message.includes(`file:${file}`));
  assert.equal(daemon.counters.sinkErrors, 5, 'each failed write counted');
  assert.match(daemon.lastError ?? '', /it is a symbolic link \(for the file sink\)/);
  assert.equal(sinkLines().filter((e) => e.level === 'error').length, 1, `one error line for the episode, not one per write:\n${sinkLines().map((e) => e.message).join('\n')}`);

  // The link goes: the next write works, and the log says so once, with the count.
  const failed = daemon.counters.sinkErrors;
  fs.unlinkSync(file);
  source.push({ events: [ev(6)] });
  await until('the sixth finding in the file', () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('198.51.100.6'));
  await daemon.stop();
  stopped = true;
  const recovered = sinkLines().filter((e) => e.level === 'info');
  assert.equal(recovered.length, 1, sinkLines().map((e) => e.message).join('\n'));
  assert.match(recovered[0]!.message, new RegExp(`works again after ${failed} failed writes`));
  assert.equal(sinkLines().filter((e) => e.level === 'error').length, 1);
});

/**
 * The daemon's capture when bpftrace dies: procfs polling fills in, starting from what eBPF already
 * reported - a connection reported once is not reported again as new (and without its process).
 * Real bpftrace, real processes holding real connections to a lab host.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { socketKey } from '../../platform/linux/procfs/source';
import { compileRules } from '../../src/analyzer/rules';
import { loadConfig } from '../../src/config/load';
import type { ConnectionEvent } from '../../src/core/types';
import { Capture } from '../../src/engine/capture';
import { memoryLogger } from '../../src/core/logger';
import { realPython3, useLab, waitForEstablished } from '../helpers/lab';
import { until as waitUntil } from '../helpers/until';

const until = <T>(what: string, fn: () => T | undefined | false | null, timeoutMs = 30000): Promise<T> => waitUntil(what, fn, timeoutMs, 50);

const labs = useLab(['bpftrace', 'python3']);
const HOLD = 'import socket, sys\ns = socket.create_connection((sys.argv[1], int(sys.argv[2])))\nprint("up", flush=True)\nsys.stdin.read()\n';

/** The bpftrace child of this test process (started by the Capture under test). */
function ourBpftrace(): number | undefined {
  const children = fs.readdirSync('/proc/self/task').flatMap((tid) => fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(/\s+/)).filter((p) => p !== '').map(Number);
  return children.find((pid) => { try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'bpftrace'; } catch { return false; } });
}

test('when bpftrace dies, the fallback poller does not report again what eBPF already reported', { timeout: 120_000 }, async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }]);
  const file = lab.writeFile('capture.yaml', 'adapter: ebpf\npollInterval: 100ms\n');
  const config = loadConfig([file]).config;
  const logs: { level: string; message: string }[] = [];
  const capture = new Capture(config, compileRules(config, { platform: 'linux' }), memoryLogger(logs));
  const events: ConnectionEvent[] = [];
  await capture.start((e) => events.push(e));
  t.after(() => capture.close());
  assert.equal(capture.status.active, 'ebpf');

  const python = await realPython3();
  const first = lab.spawnRoot(python, ['-c', HOLD, lab.external.ipv4, '5222']);
  await waitForEstablished(first, lab.external.ipv4, 5222);
  const reported = await until('eBPF reports the first connection', () => events.find((e) => e.process?.pid === first.pid && e.source.port > 0));
  const key = socketKey(reported);

  const tracer = ourBpftrace();
  assert.ok(tracer, 'the capture runs a bpftrace child');
  process.kill(tracer, 'SIGKILL');
  await until('the fallback to procfs', () => logs.some((l) => /eBPF capture stopped .*polling procfs/.test(l.message)));
  // A connection made while eBPF is down: once the poller reports it, it has polled the first one too.
  const second = lab.spawnRoot(python, ['-c', HOLD, lab.external.ipv4, '5222']);
  await waitForEstablished(second, lab.external.ipv4, 5222);
  await until('the poller reports the second connection', () => events.some((e) => e.adapter === 'procfs' && e.process?.pid === second.pid));
  await new Promise((r) => setTimeout(r, 300)); // three more polls

  const again = events.filter((e) => socketKey(e) === key);
  assert.equal(again.length, 1, `reported once: ${JSON.stringify(again.map((e) => [e.adapter, e.process?.pid ?? null]))}`);
  assert.ok(path.isAbsolute(reported.process?.exe ?? ''), 'the eBPF event named its process');
});

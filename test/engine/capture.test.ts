/**
 * The daemon's capture without root: the plan comes from the real platform dispatcher; the
 * adapters are in-memory polling sources (MemorySource, the same Poller as procfs and lsof), or the
 * real procfs adapter over a fixture /proc tree and the real eBPF adapter pointed at a missing bpftrace.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { type AdapterContext, planCapture } from '../../platform';
import { compileRules } from '../../src/analyzer/rules';
import { loadConfig, mergeConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { memoryLogger } from '../../src/core/logger';
import { type MemoryBatch, MemorySource } from '../../src/core/memory-source';
import { AdapterUnavailableError } from '../../src/core/source';
import type { ConnectionEvent } from '../../src/core/types';
import { Capture } from '../../src/engine/capture';
import { materializeProctree } from '../fixtures/linux/materialize-proctree';
import { event } from '../analyzer/_events';

const configWith = (over: Record<string, unknown>): Config => mergeConfig(loadConfig().config, over) as Config;

/** A dispatcher stand-in: named in-memory sources; `unavailable` ones fail start() with one line. */
function fakeAdapters(spec: Record<string, { batches?: MemoryBatch[]; unavailable?: string }>) {
  const built: MemorySource[] = [];
  const contexts: AdapterContext[] = [];
  const createSource = (name: string, ctx: AdapterContext) => {
    const s = spec[name];
    if (!s) throw new AdapterUnavailableError(name, 'not in this test');
    contexts.push(ctx);
    const source = new MemorySource(name, s.batches ?? [], { ...(s.unavailable !== undefined ? { unavailable: s.unavailable } : {}), ...(ctx.log ? { log: ctx.log } : {}) });
    built.push(source);
    return source;
  };
  return { createSource, built, contexts };
}

describe('planCapture: the dispatcher decides what `adapter` means for the daemon', () => {
  test('auto: the streaming adapter first where there is one, then the polling default', () => {
    assert.deepEqual(planCapture('auto', 'linux'), { stream: 'ebpf', poll: 'procfs' });
    assert.deepEqual(planCapture('auto', 'darwin'), { stream: null, poll: 'lsof' });
  });
  test('a streaming adapter names its fallback; a polling one runs alone', () => {
    assert.deepEqual(planCapture('ebpf', 'linux'), { stream: 'ebpf', poll: 'procfs' });
    assert.deepEqual(planCapture('procfs', 'linux'), { stream: null, poll: 'procfs' });
    assert.deepEqual(planCapture('lsof', 'linux'), { stream: null, poll: 'lsof' });
  });
  test('an adapter that cannot run on this OS at all: one line naming it', () => {
    assert.throws(() => planCapture('ebpf', 'darwin'), (e: Error) => e instanceof AdapterUnavailableError && e.message === 'ebpf adapter unavailable: runs on linux, not on darwin');
    assert.throws(() => planCapture('auto', 'aix'), /^AdapterUnavailableError: auto adapter unavailable: no socket adapter for aix yet/);
  });
});

describe('Capture', () => {
  const rules = compileRules(loadConfig().config, { platform: 'linux' });

  test('auto: the stream cannot start -> one warning line, the poller runs and delivers, status says why', async () => {
    const entries: { level: string; message: string }[] = [];
    const e1 = event({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/python3' });
    const a = fakeAdapters({ ebpf: { unavailable: 'bpftrace not found' }, procfs: { batches: [{ events: [e1] }] } });
    const c = new Capture(configWith({ adapter: 'auto' }), rules, memoryLogger(entries), { createSource: a.createSource, platform: 'linux' });
    const got: ConnectionEvent[] = [];
    await c.start((e) => got.push(e));
    await c.close();
    assert.deepEqual(got, [e1]);
    assert.equal(c.status.active, 'procfs');
    assert.deepEqual(c.status.fallbacks, ['ebpf: bpftrace not found']);
    assert.deepEqual(entries.map((e) => e.level), ['warn']);
    assert.match(entries[0]?.message as string, /^eBPF capture unavailable \(bpftrace not found\); falling back to procfs polling every 1s/);
    assert.equal(typeof a.contexts[0]?.log?.warn, 'function', 'adapters get the logger for their failure episodes');
  });

  test('a polling adapter alone: no stream tried', async () => {
    const entries: { level: string; message: string }[] = [];
    const a = fakeAdapters({ lsof: {} });
    const c = new Capture(configWith({ adapter: 'lsof' }), rules, memoryLogger(entries), { createSource: a.createSource, platform: 'linux' });
    await c.start(() => undefined);
    await c.close();
    assert.deepEqual(a.built.map((s) => s.name), ['lsof']);
    assert.equal(entries[0]?.message, 'capturing with lsof polling every 1s');
  });

  test('nothing can run: start() fails with one line naming the stream and its fallback', async () => {
    const a = fakeAdapters({ ebpf: { unavailable: 'bpftrace not found' }, procfs: { unavailable: 'no procfs at /nope (set procRoot in the config)' } });
    const c = new Capture(configWith({ adapter: 'ebpf' }), rules, memoryLogger([]), { createSource: a.createSource, platform: 'linux' });
    await assert.rejects(c.start(() => undefined), (e: Error) => {
      assert.ok(e instanceof AdapterUnavailableError);
      assert.equal(e.message, 'ebpf adapter unavailable: bpftrace not found; and its fallback, procfs: no procfs at /nope (set procRoot in the config)');
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    assert.deepEqual(a.built.map((s) => s.history), [['start', 'close', 'closed'], ['start', 'close', 'closed']], 'what failed to start was closed');
  });

  test('health(): the sum over every source it ran, including closed ones', async () => {
    const a = fakeAdapters({ procfs: { batches: [{ warnings: [{ code: 'proc-eacces', message: 'm', count: 2 }] }, { error: 'EIO' }, { lost: 3 }] } });
    const c = new Capture(configWith({ adapter: 'procfs' }), rules, memoryLogger([]), { createSource: a.createSource, platform: 'linux' });
    await c.start(() => undefined);
    await a.built[0]?.afterPolls(2);
    await c.close();
    assert.deepEqual(c.health(), { eventsLost: 3, pollErrors: 1, lastError: 'EIO', warnings: [{ code: 'proc-eacces', message: 'm', count: 2 }] });
  });

  test('the stream goes down: the poller stands in and says so; back up: the poller closes, its numbers stay', async () => {
    const entries: { level: string; message: string }[] = [];
    const a = fakeAdapters({ ebpf: {}, procfs: { batches: [{}, { error: 'EACCES' }, {}] } });
    const c = new Capture(configWith({ adapter: 'auto' }), rules, memoryLogger(entries), { createSource: a.createSource, platform: 'linux' });
    await c.start(() => undefined);
    assert.equal(c.status.active, 'ebpf');
    const onStatus = a.contexts[0]?.onStatus;
    assert.ok(onStatus, 'the stream was given an onStatus');
    onStatus(false, 'bpftrace was killed by SIGKILL');
    onStatus(false, 'still down'); // one episode, one line
    await new Promise((r) => setTimeout(r, 0));
    const poller = a.built[1];
    assert.equal(poller?.name, 'procfs');
    await poller.afterPolls(3);
    onStatus(true);
    await c.close();
    assert.deepEqual(poller.history, ['start', 'started', 'close', 'closed']);
    assert.deepEqual(c.status.fallbacks, ['ebpf down: bpftrace was killed by SIGKILL']);
    assert.equal(c.health().pollErrors, 1, 'the stand-in poller\'s failed poll is still counted');
    assert.deepEqual(entries.map((e) => e.message.replace(/ \(.*$/, '').replace(/:.*$/, '')), [
      'capturing with eBPF', 'eBPF capture stopped', 'procfs', 'procfs', 'eBPF capture is back; procfs polling stops',
    ]);
  });

  test('the real dispatcher: adapter ebpf with bpftrace missing falls back to procfs (fixture /proc) and polls', async () => {
    const tree = materializeProctree();
    // The dispatcher recognises a procfs by <root>/net/tcp (or self/, 1/): give the tree one.
    const withNet = fs.readdirSync(tree.root).find((n) => /^\d+$/.test(n) && fs.existsSync(path.join(tree.root, n, 'net', 'tcp')));
    assert.ok(withNet, 'a pid of the fixture tree has net/tcp');
    fs.symlinkSync(path.join(tree.root, withNet, 'net'), path.join(tree.root, 'net'));
    const entries: { level: string; message: string }[] = [];
    const missing = path.join(tree.root, 'no-such-dir', 'bpftrace');
    const c = new Capture(configWith({ adapter: 'ebpf', bpftracePath: missing, procRoot: tree.root, pollInterval: 20 }), rules, memoryLogger(entries));
    try {
      const got: ConnectionEvent[] = [];
      await c.start((e) => got.push(e));
      assert.equal(c.status.active, 'procfs');
      assert.match(c.status.fallbacks[0] as string, /^ebpf: .*no-such-dir\/bpftrace/);
      assert.match(entries[0]?.message as string, /^eBPF capture unavailable \(.+\); falling back to procfs polling every 0\.02s/);
      assert.ok(got.length > 0, 'the fixture tree has broker connections');
      assert.equal(c.health().pollErrors, 0);
    } finally {
      await c.close();
      tree.cleanup();
    }
  });
});

/**
 * EbpfSource against the real kernel: bpftrace, tracefs, nc and a local listener. Needs root and
 * bpftrace; without them the tests skip with the reason, except under CI=true where they fail.
 * Every process started here is a child whose pid the test knows; all are gone when it ends.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { AdapterUnavailableError } from '../../../../src/core/source';
import type { ConnectionEvent } from '../../../../src/core/types';
import { type EbpfProcessInfo, EbpfSource, type EbpfStatus } from '../../../../platform/linux/ebpf/source';
import { findExecutable, realEbpfDeps } from '../../../../platform/linux/ebpf/read';

const CI = process.env.CI === 'true';
const CONNECTS = 200;

/** Skips with the reason, or fails under CI=true: a missing prerequisite must not pass silently there. */
function requireOrSkip(t: TestContext, missing: string | null): boolean {
  if (missing === null) return true;
  if (CI) assert.fail(`prerequisite missing under CI=true: ${missing}`);
  t.skip(missing);
  return false;
}

function run(file: string, args: string[]): Promise<{ pid: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ pid: child.pid as number, code }));
  });
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('EbpfSource.probe', () => {
  it('says in one line that bpftrace is missing when PATH lacks it', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-ebpf-nopath-'));
    try {
      const result = await EbpfSource.probe({ searchDirs: [] }, { ...realEbpfDeps, env: { PATH: empty } });
      assert.equal(result.ok, false);
      assert.ok(!result.ok && /^bpftrace not found in PATH \(install the bpftrace package\)$/.test(result.reason), JSON.stringify(result));
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('EbpfSource on this kernel', { timeout: 90_000 }, () => {
  let missing: string | null = null;
  let nc = '';
  let server: net.Server | null = null;
  let port = 0;
  let v6 = false;
  let source: EbpfSource | null = null;
  const events: ConnectionEvent[] = [];
  const statuses: EbpfStatus[] = [];
  let closedAt: number | null = null;
  let lateEvents = 0;

  before(async () => {
    const probe = await EbpfSource.probe();
    nc = (await findExecutable('nc', realEbpfDeps)) ?? '';
    missing = !probe.ok ? probe.reason : nc === '' ? 'nc not found' : null;
    if (missing) return;
    server = net.createServer((s) => s.destroy());
    try {
      await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(0, '::', resolve));
      v6 = true;
    } catch {
      server = net.createServer((s) => s.destroy());
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    }
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    await source?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('fails start() with one line when bpftrace cannot start', async (t) => {
    if (!requireOrSkip(t, missing)) return;
    const broken = new EbpfSource({ ports: [port], bpftrace: '/bin/false' });
    await assert.rejects(broken.start(() => undefined), (err: Error) => {
      assert.ok(err instanceof AdapterUnavailableError);
      assert.equal(err.message, 'ebpf adapter unavailable: bpftrace exited with code 1');
      return true;
    });
    await broken.close();
  });

  it(`captures all ${CONNECTS} short connects with the pid, exe and command line of the process that made them`, async (t) => {
    if (!requireOrSkip(t, missing)) return;
    source = new EbpfSource({ ports: [port], dropLoopback: false, onStatus: (s) => statuses.push(s), backoff: { initialMs: 200 } }, realEbpfDeps);
    const started = Date.now();
    await source.start((e) => {
      if (closedAt !== null) lateEvents += 1;
      events.push(e);
    });
    t.diagnostic(`bpftrace attached in ${Date.now() - started} ms (tracefs ${statuses[0]?.state === 'up' ? statuses[0].tracefs : '?'})`);

    const pids: number[] = [];
    for (let i = 0; i < CONNECTS; i++) {
      const r = await run(nc, ['-z', '127.0.0.1', String(port)]);
      assert.equal(r.code, 0, 'nc reached the listener');
      pids.push(r.pid);
    }
    const mine = () => events.filter((e) => e.destination.port === port && e.process && pids.includes(e.process.pid));
    await until(`${CONNECTS} events`, () => mine().length >= CONNECTS, 10_000);

    const exe = fs.realpathSync(nc);
    const byPid = new Map<number, ConnectionEvent[]>();
    for (const e of mine()) byPid.set(e.process!.pid, [...(byPid.get(e.process!.pid) ?? []), e]);
    const attribution: Record<string, number> = {};
    for (const pid of pids) {
      const got = byPid.get(pid) ?? [];
      assert.equal(got.length, 1, `exactly one event for nc pid ${pid}`);
      const e = got[0] as ConnectionEvent;
      assert.equal(e.process?.exe, exe, `exe of pid ${pid}`);
      assert.equal(e.process?.cmdline, `${nc} -z 127.0.0.1 ${port}`, `command line of pid ${pid}`);
      assert.deepEqual([e.adapter, e.transport, e.state, e.family, e.destination.ip], ['ebpf', 'tcp', 'SYN_SENT', 4, '127.0.0.1']);
      assert.ok(e.source.port > 0, `source port of pid ${pid} joined from the S line`);
      const how = (e.process as EbpfProcessInfo).attribution;
      attribution[how] = (attribution[how] ?? 0) + 1;
    }
    t.diagnostic(`captured ${byPid.size}/${CONNECTS} nc connects; attribution ${JSON.stringify(attribution)}; stats ${JSON.stringify(source.stats())}`);
  });

  it('captures an IPv6 connect', async (t) => {
    if (!requireOrSkip(t, missing)) return;
    if (!v6) return t.skip('no IPv6 listener on this host');
    const r = await run(nc, ['-z', '::1', String(port)]);
    await until('the IPv6 event', () => events.some((e) => e.process?.pid === r.pid), 5000);
    const e = events.find((x) => x.process?.pid === r.pid) as ConnectionEvent;
    assert.deepEqual([e.family, e.destination.ip, e.source.ip], [6, '::1', '::1']);
  });

  it('restarts a killed bpftrace, reports down/up through onStatus, and keeps capturing', async (t) => {
    if (!requireOrSkip(t, missing) || !source) return;
    const first = source.tracerPid as number;
    process.kill(first, 'SIGKILL'); // the bpftrace child this test's source started
    await until('down then up', () => statuses.some((s) => s.state === 'down') && statuses.filter((s) => s.state === 'up').length >= 2, 20_000);
    const down = statuses.find((s) => s.state === 'down');
    assert.deepEqual(down, { state: 'down', reason: 'bpftrace was killed by SIGKILL', restarts: 1, restartInMs: 200 });
    assert.notEqual(source.tracerPid, first);
    const r = await run(nc, ['-z', '127.0.0.1', String(port)]);
    await until('an event after the restart', () => events.some((e) => e.process?.pid === r.pid), 5000);
  });

  it('close() ends exactly its bpftrace child and emits nothing afterwards', async (t) => {
    if (!requireOrSkip(t, missing) || !source) return;
    const tracer = source.tracerPid as number;
    await source.close();
    closedAt = Date.now();
    assert.equal(source.tracerPid, undefined);
    assert.throws(() => process.kill(tracer, 0), { code: 'ESRCH' });
    await run(nc, ['-z', '127.0.0.1', String(port)]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(lateEvents, 0);
  });
});

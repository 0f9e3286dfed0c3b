/**
 * Lost eBPF events are counted and said: the real bpftrace with one perf page per CPU, stopped
 * (SIGSTOP, our own child) while 400 connects are made, then resumed. The kernel drops what does
 * not fit; the source counts it (stats, health), warns, and logs it once for the episode.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it, type TestContext } from 'node:test';
import type { ConnectionEvent } from '../../../../src/core/types';
import { EbpfSource } from '../../../../platform/linux/ebpf/source';

const CI = process.env.CI === 'true';

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('lost eBPF events', { timeout: 90_000 }, () => {
  let source: EbpfSource | null = null;
  let server: net.Server | null = null;
  after(async () => {
    await source?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('are counted in stats() and health(), warned about and logged once per episode', async (t: TestContext) => {
    const probe = await EbpfSource.probe();
    if (!probe.ok) {
      if (CI) assert.fail(`prerequisite missing under CI=true: ${probe.reason}`);
      return t.skip(probe.reason);
    }
    server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const logs: string[] = [];
    const events: ConnectionEvent[] = [];
    source = new EbpfSource({ ports: [port], dropLoopback: false, perfRbPages: 1, log: { warn: (m) => logs.push(m) } });
    await source.start((e) => events.push(e));
    const tracer = source.tracerPid as number;
    process.kill(tracer, 'SIGSTOP'); // the bpftrace child this test's source started
    try {
      for (let i = 0; i < 400; i++) {
        await new Promise<void>((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => c.destroy());
          c.on('close', () => resolve());
          c.on('error', () => resolve());
        });
      }
    } finally {
      process.kill(tracer, 'SIGCONT');
    }
    await until('the loss report', () => (source?.stats().lostEvents ?? 0) > 0, 10_000);
    await new Promise((r) => setTimeout(r, 2000)); // the rest of the loss reports
    const stats = source.stats();
    t.diagnostic(`400 connects: ${events.length} reported, ${stats.lostEvents} events lost`);
    assert.ok(events.length < 400, 'one perf page per CPU cannot hold 400 connects');
    assert.equal(source.health().eventsLost, stats.lostEvents);
    assert.ok(source.warnings().some((w) => w.code === 'ebpf-lost-events'));
    assert.equal(logs.filter((l) => /^eBPF capture lost \d+ events/.test(l)).length, 1, `one log line for the episode: ${JSON.stringify(logs)}`);
  });
});

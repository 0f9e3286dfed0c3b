import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConnectionEvent } from '../../src/core/types';
import { WireJoin } from '../../src/engine/wire-join';

function ev(pid: number, port: number, sport: number, extra: Partial<ConnectionEvent> = {}): ConnectionEvent {
  return { time: 't', adapter: 'x', transport: 'tcp', family: 4, state: 'ESTABLISHED', source: { ip: '10.0.0.1', port: sport }, destination: { ip: '198.51.100.7', port }, process: { pid }, ...extra };
}

describe('WireJoin: one socket, one event', () => {
  it('merges the wire facts into the held connect event', () => {
    const out: ConnectionEvent[] = [];
    const j = new WireJoin((e) => out.push(e), 3000, () => true);
    j.connect(ev(1, 1883, 5000, { adapter: 'ebpf' }), 0);
    assert.equal(out.length, 0);
    j.wire(ev(1, 1883, 5000, { adapter: 'wire', inspection: 'plaintext', destination: { ip: '198.51.100.7', port: 1883, hostname: 'b.example.test' } }), 1000);
    assert.equal(out.length, 1);
    assert.deepEqual([out[0]!.adapter, out[0]!.inspection, out[0]!.destination.hostname], ['ebpf', 'plaintext', 'b.example.test']);
    assert.equal(j.stats.merged, 1);
  });
  it('releases a connect event alone after the hold, and drops a late wire event for it', () => {
    const out: ConnectionEvent[] = [];
    const j = new WireJoin((e) => out.push(e), 3000, () => true);
    j.connect(ev(1, 1883, 5000), 0);
    j.tick(2999);
    assert.equal(out.length, 0);
    j.tick(3000);
    assert.equal(out.length, 1);
    j.wire(ev(1, 1883, 5000, { inspection: 'plaintext' }), 3500);
    assert.equal(out.length, 1);
    assert.deepEqual(j.stats, { merged: 0, connectOnly: 1, wireOnly: 0, wireLate: 1 });
  });
  it('a wire event with no connect event goes out by itself; unwatched ports and unknown processes pass straight through', () => {
    const out: ConnectionEvent[] = [];
    const j = new WireJoin((e) => out.push(e), 3000, (p) => p !== 22);
    j.wire(ev(2, 8080, 6000), 0);
    j.connect(ev(3, 22, 7000), 0);
    const noProc = ev(4, 1883, 1);
    delete noProc.process;
    j.connect(noProc, 0);
    assert.equal(out.length, 3);
    j.connect(ev(5, 1883, 1), 0);
    j.flush();
    assert.equal(out.length, 4);
  });
  it('distinct sockets of one process to one broker stay apart by source port', () => {
    const out: ConnectionEvent[] = [];
    const j = new WireJoin((e) => out.push(e), 3000, () => true);
    j.connect(ev(1, 1883, 5000), 0);
    j.connect(ev(1, 1883, 5001), 0);
    j.wire(ev(1, 1883, 5001, { inspection: 'plaintext' }), 10);
    assert.deepEqual(out.map((e) => [e.source.port, e.inspection]), [[5001, 'plaintext']]);
    assert.equal(j.size, 1);
  });
});

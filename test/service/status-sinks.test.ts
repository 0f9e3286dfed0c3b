/**
 * A collector that cannot be reached must show in `status`: the real `brokerwatch run` daemon with
 * a forwarder sink aimed at a loopback port nobody listens on (picked with freePort) and a live
 * external broker connection from the namespace lab. Its records stay in the spool; `status --json`
 * and the human status name the sink, its failed deliveries with the reason, and what waits.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, runCli } from '../helpers/cli';
import { freePort, sleep, useLab, waitForEstablished } from '../helpers/lab';

const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');
const labs = useLab(['mosquitto', 'mosquitto_sub']);

interface SinkState { name: string; delivered: number; pending: number; pendingFindings: number; deliveryFailures: number; lastError: string | null; dropped: number; droppedFindings: number; diskFullEpisodes: number }

describe('status shows each spooled sink', () => {
  it('a forwarder whose collector refuses: failed deliveries, the reason and the waiting records, in --json and the human status', async (t) => {
    const lab = labs.get(t);
    if (!lab) return;
    t.after(() => lab.stopAll());
    const dir = lab.tmpDir;
    const sock = path.join(dir, 'ctl', 'bw.sock');
    const port = await freePort();
    const config = lab.writeFile('agent.yaml', JSON.stringify({
      adapter: 'procfs',
      pollInterval: '200ms',
      sinks: [{ type: 'forwarder', host: '127.0.0.1', port, spool: { path: path.join(dir, 'spool') } }],
      control: { socket: sock },
      stateDir: path.join(dir, 'state'),
      watchdog: { enabled: false },
    }));
    await lab.startMosquitto(lab.external, 1883);
    const agent = lab.spawnRoot(process.execPath, ['--import', 'tsx', ENTRY, 'run', '--config', config], { cwd: REPO_ROOT });
    await agent.waitForOutput(/control socket listening on /, 30_000);
    const sub = lab.spawnRoot('mosquitto_sub', ['-h', lab.external.ipv4, '-p', '1883', '-t', 'c2/#']);
    await waitForEstablished(sub, lab.external.ipv4, 1883);

    const status = async () => {
      const r = await runCli(['status', '--json', '--socket', sock]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { sinks?: SinkState[]; counters: { findings: number } };
    };
    let s = await status();
    // Until the finding is in and, where status lists sinks, its first delivery has failed (at once: nothing listens).
    for (let i = 0; i < 60 && !(s.counters.findings > 0 && (!Array.isArray(s.sinks) || (s.sinks[0]?.deliveryFailures ?? 0) > 0)); i++) {
      await sleep(100);
      s = await status();
    }
    assert.ok(s.counters.findings > 0, `a finding for mosquitto_sub ${sub.pid}\n${agent.describe()}`);
    assert.ok(Array.isArray(s.sinks), `status --json has sinks: ${JSON.stringify(s)}`);
    assert.equal(s.sinks.length, 1);
    const [fwd] = s.sinks as [SinkState];
    assert.equal(fwd.name, `spool(forwarder(127.0.0.1:${port}))`);
    assert.equal(fwd.delivered, 0);
    assert.ok(fwd.deliveryFailures > 0, JSON.stringify(fwd));
    assert.match(fwd.lastError ?? '', new RegExp(`127\\.0\\.0\\.1:${port} refused the connection`));
    assert.ok(fwd.pending > 0 && fwd.pendingFindings > 0, JSON.stringify(fwd));
    assert.deepEqual([fwd.dropped, fwd.droppedFindings, fwd.diskFullEpisodes], [0, 0, 0]);

    const human = await runCli(['status', '--socket', sock]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`\\nsink: {8}spool\\(forwarder\\(127\\.0\\.0\\.1:${port}\\)\\): 0 delivered, \\d+ waiting \\(\\d+ findings\\), [1-9]\\d* failed deliveries \\(last: collector 127\\.0\\.0\\.1:${port} refused the connection`));

    const stop = await runCli(['stop', '--socket', sock]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'spool')));
  });
});

/**
 * status, reload and stop as the CLI runs them, against a real control socket served in this
 * process (the daemon side is tested with the real `run` in test/service/daemon-control.test.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main';
import { type ControlServer, startControlServer } from '../../src/control/server';
import { collectStatus, formatStatus, type StatusDaemon } from '../../src/control/status';

let tmp = '';
before(() => { tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'bw-cli-'))); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; } });
  return { code, stdout, stderr };
}

const daemon: StatusDaemon = {
  startedAt: Date.now() - 3_725_000,
  counters: { eventsSeen: 12, eventsJudged: 5, eventsIgnored: 7, eventsDropped: 0, findings: 2, correlations: 1, beacons: 0, recordsSent: 5, sinkErrors: 1 },
  sourceName: 'capture',
  queueLength: 0,
  lastError: 'sink file:/x: EACCES \u001b[31m(red)',
};

let n = 0;
async function serve(reloadOk = true): Promise<{ server: ControlServer; sock: string }> {
  const sock = path.join(tmp, `s${n++}`, 'bw.sock');
  let server: ControlServer | null = null;
  server = await startControlServer({
    socketPath: sock,
    handlers: {
      status: () => collectStatus(daemon, { version: '9.9.9', configFiles: ['/etc/brokerwatch/config.yaml'], controlSocket: sock, capture: () => ({ active: 'procfs', fallbacks: ['ebpf: bpftrace not found'] }) }),
      reload: async () => (reloadOk ? { ok: true, message: 'configuration reloaded' } : { ok: false, message: '/etc/brokerwatch/config.yaml: mode: invalid option' }),
      // Like run: flush, then close the socket once the reply is out.
      stop: async () => { setImmediate(() => void server?.close()); },
    },
  });
  return { server, sock };
}

describe('status / reload / stop commands', () => {
  it('status prints a readable summary with hostile text escaped, or JSON', async () => {
    const { server, sock } = await serve();
    try {
      const human = await cli(['status', '--socket', sock]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, new RegExp(`^brokerwatch 9\\.9\\.9 running \\(pid ${process.pid}\\), up 1h 2m 5s\\n`));
      assert.match(human.stdout, /\ncapture: {5}procfs \(fallbacks: ebpf: bpftrace not found\)\n/);
      assert.match(human.stdout, /\nevents: {6}12 seen, 5 judged, 7 ignored, 0 dropped, 0 queued\n/);
      assert.match(human.stdout, /\nrecords: {5}5 sent, n\/a spooled, 1 sink errors\n/);
      assert.match(human.stdout, /\nlast error: {2}sink file:\/x: EACCES \\x1b\[31m\(red\)\n/);
      const json = await cli(['status', '--json', '--socket', sock]);
      const s = JSON.parse(json.stdout) as { pid: number; uptimeSeconds: number; counters: { eventsSeen: number } };
      assert.equal(s.pid, process.pid);
      assert.equal(s.uptimeSeconds, 3725);
      assert.equal(s.counters.eventsSeen, 12);
    } finally {
      await server.close();
    }
  });

  it('status shows the spools\' losses: dropped telemetry and findings, disk-full episodes', async () => {
    const spool = { pending: 442, pendingFindings: 442, droppedTelemetry: 1200, droppedFindings: 158, diskFullEpisodes: 1 };
    const human = formatStatus(collectStatus(daemon, { version: '9.9.9', configFiles: [], controlSocket: '/run/x.sock', spool: () => spool }));
    assert.match(human, /\nspool: {7}442 pending \(442 findings\); dropped 1200 telemetry, 158 findings; disk full 1 times\n/);
    assert.deepEqual(collectStatus(daemon, { version: '9.9.9', configFiles: [], controlSocket: '/run/x.sock', spool: () => spool }).spool, spool);
    assert.doesNotMatch(formatStatus(collectStatus(daemon, { version: '9.9.9', configFiles: [], controlSocket: '/run/x.sock' })), /\nspool:/, 'no spooled sink: no line');
  });

  it('finds the socket through --config (control.socket)', async () => {
    const { server, sock } = await serve();
    try {
      const cfg = path.join(tmp, 'agent.yaml');
      fs.writeFileSync(cfg, `control:\n  socket: ${JSON.stringify(sock)}\n`);
      const r = await cli(['status', '--json', '--config', cfg]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await server.close();
    }
  });

  it('no daemon: one clear line and exit 2 (JSON on stdout with --json)', async () => {
    const sock = path.join(tmp, 'nothing-here.sock');
    const r = await cli(['status', '--json', '--socket', sock]);
    assert.equal(r.code, 2);
    assert.deepEqual(JSON.parse(r.stdout), { ok: false, error: `no daemon listening on ${sock}`, reason: 'not-running' });
    assert.equal(r.stderr, `brokerwatch: no daemon listening on ${sock}\n`);
    for (const cmd of ['reload', 'stop']) {
      const x = await cli([cmd, '--socket', sock]);
      assert.deepEqual({ code: x.code, stderr: x.stderr }, { code: 2, stderr: `brokerwatch: no daemon listening on ${sock}\n` });
    }
    const bad = await cli(['status', '--timeout', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--timeout wants a number of seconds, got "soon"\nRun brokerwatch status --help/);
  });

  it('reload: done (exit 0) or refused with the reason (exit 2)', async () => {
    const ok = await serve(true);
    const refused = await serve(false);
    try {
      assert.deepEqual(await cli(['reload', '--socket', ok.sock]), { code: 0, stdout: 'reloaded: configuration reloaded\n', stderr: '' });
      assert.deepEqual(await cli(['reload', '--socket', refused.sock]), {
        code: 2, stdout: '', stderr: 'brokerwatch: reload refused, the daemon keeps its previous configuration:\n  /etc/brokerwatch/config.yaml: mode: invalid option\n',
      });
    } finally {
      await ok.server.close();
      await refused.server.close();
    }
  });

  it('stop waits until the daemon has closed its socket', async () => {
    const { sock } = await serve();
    const r = await cli(['stop', '--socket', sock]);
    assert.deepEqual(r, { code: 0, stdout: `stopped brokerwatch (pid ${process.pid}): sinks flushed\n`, stderr: '' });
    assert.equal(fs.existsSync(sock), false);
  });

  it('every command has help that teaches, and is in the command list', async () => {
    for (const cmd of ['status', 'reload', 'stop', 'install', 'uninstall']) {
      const r = await cli([cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^Usage: brokerwatch ${cmd} `));
      assert.match(r.stdout, /Exit codes: 0 /);
      assert.match((await cli(['--help'])).stdout, new RegExp(`\\n  ${cmd} +\\S`));
    }
  });
});

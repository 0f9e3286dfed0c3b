/**
 * Scan speed as ratios against ss, lsof and systeminformation, measured in the same run on the
 * same sockets. Two situations: an idle host (many loopback sockets, no candidate: brokerwatch reads
 * /proc/net only) and a busy one (one external-looking candidate forces the /proc/<pid>/fd walk).
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import si from 'systeminformation';
import { ProcfsReader } from '../platform/linux/procfs/read';
import { isCandidate, isPubSubPort, isWatchedPort } from '../src/analyzer/judge';
import { compileRules } from '../src/analyzer/rules';
import { loadConfig } from '../src/config/load';

const run = promisify(execFile);

async function timeIt(fn: () => Promise<unknown>, rounds: number): Promise<number> {
  await fn(); // warm up
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number; // median ms
}

async function which(tool: string): Promise<string | null> {
  for (const dir of ['/usr/bin', '/usr/sbin', '/bin', '/sbin']) {
    try {
      await run('test', ['-x', `${dir}/${tool}`]);
      return `${dir}/${tool}`;
    } catch { /* next */ }
  }
  return null;
}

/** Opens `pairs` loopback TCP connections inside this process (2 x pairs sockets). */
async function loopbackSockets(pairs: number): Promise<() => Promise<void>> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  for (let i = 0; i < pairs; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, pairs - i) }, () => new Promise<void>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => resolve());
      c.on('error', reject);
      clients.push(c);
    })));
  }
  return async () => {
    for (const c of [...clients, ...accepted]) c.destroy();
    await new Promise((r) => server.close(() => r(undefined)));
  };
}

export async function benchScan(pairs = 5000, rounds = 7): Promise<Record<string, string | number>[]> {
  const { config } = loadConfig();
  const idleRules = compileRules(config);
  const closeAll = await loopbackSockets(pairs);
  const rows: Record<string, string | number>[] = [];
  try {
    const idle = new ProcfsReader({
      procRoot: '/proc',
      isCandidate: (ip, port) => isCandidate(ip, port, idleRules),
      isPubSubPort: (port) => isPubSubPort(port, idleRules),
      isWatchedPort: (port) => isWatchedPort(port, idleRules),
    });
    // "busy": every loopback connection counts as a candidate, so the fd walk and process reads run.
    const busy = new ProcfsReader({ procRoot: '/proc', isCandidate: (ip) => ip === '127.0.0.1' });
    const idleSnap = await idle.snapshot();
    const busySnap = await busy.snapshot();
    const bwIdle = await timeIt(() => idle.snapshot(), rounds);
    const bwBusy = await timeIt(() => busy.snapshot(), Math.max(3, Math.floor(rounds / 2)));
    const ss = await which('ss');
    const lsof = await which('lsof');
    const ssMs = ss ? await timeIt(() => run(ss, ['-tanp'], { maxBuffer: 256 * 1024 * 1024 }), rounds) : NaN;
    const lsofMs = lsof ? await timeIt(() => run(lsof, ['-nP', '-iTCP', '-iUDP', '-FpcfnT0'], { maxBuffer: 256 * 1024 * 1024 }).catch(() => undefined), 3) : NaN;
    const siMs = await timeIt(() => si.networkConnections(), 3);
    rows.push({ case: `idle: ${idleSnap.stats.sockets} sockets, 0 candidates`, brokerwatch_ms: bwIdle.toFixed(1), fdWalks: idleSnap.stats.fdWalks ?? 0,
      vs_ss: (ssMs / bwIdle).toFixed(2), vs_lsof: (lsofMs / bwIdle).toFixed(2), vs_systeminformation: (siMs / bwIdle).toFixed(2) });
    rows.push({ case: `busy: ${busySnap.stats.sockets} sockets, ${busySnap.stats.candidates} candidates (fd walk)`, brokerwatch_ms: bwBusy.toFixed(1), fdWalks: busySnap.stats.fdWalks ?? 0,
      vs_ss: (ssMs / bwBusy).toFixed(2), vs_lsof: (lsofMs / bwBusy).toFixed(2), vs_systeminformation: (siMs / bwBusy).toFixed(2) });
    rows.push({ case: 'reference tools (ms, median)', brokerwatch_ms: '-', fdWalks: '-', vs_ss: ssMs.toFixed(1), vs_lsof: lsofMs.toFixed(1), vs_systeminformation: siMs.toFixed(1) });
  } finally {
    await closeAll();
  }
  return rows;
}

if (require.main === module) {
  benchScan().then((rows) => {
    console.log('scan speed: ratio = other tool time / brokerwatch time (above 1: brokerwatch is faster)');
    console.table(rows);
  }).catch((err: Error) => {
    console.error(err);
    process.exitCode = 1;
  });
}

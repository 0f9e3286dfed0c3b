/**
 * The network-namespace test lab: test hosts are network namespaces joined to the root namespace by
 * veth pairs. Real processes run on them (brokers, listeners) and in the root namespace (clients),
 * so brokerwatch sees real sockets. See README.md in this folder for the API.
 *
 * Addresses: documentation and private ranges only. Lab number i (0..31) owns
 *   external host  198.51.100.8i+2 and +3 (root side +1, a /29), 2001:db8:b7:i::2 (root side ::1, a /64)
 *   internal host  10.77.i.2 (root side 10.77.i.1, a /24)
 * and the namespaces bwt<i> (the claim: `ip netns add` is atomic), bwt<i>-ext, bwt<i>-int.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, type TestContext } from 'node:test';
import { normalizeIp, waitForPort } from './lab-net';
import { execFileP, findExecutable, LabProcess, requireExecutable, type SpawnOptions, spawnProcess } from './lab-process';

export { establishedSockets, freePort, normalizeIp, waitForEstablished, waitForPort } from './lab-net';
export { findExecutable, LabProcess, realPython3, requireExecutable, sleep, type SpawnOptions } from './lab-process';

const MAX_LABS = 32;
/** A claim namespace without its keeper process for this long belongs to a lab whose test process died. */
const STALE_AFTER_MS = 120_000;
const NETNS_DIR = '/run/netns'; // iproute2's NETNS_RUN_DIR

export type HostRole = 'external' | 'internal';

export interface LabHost {
  role: HostRole;
  /** Network namespace name (bwt<i>-ext / bwt<i>-int). */
  netns: string;
  /** Root-namespace side of the veth pair. */
  rootIfname: string;
  /** The host's main IPv4 address. */
  ipv4: string;
  /** Every address the host has (ipv4 first). */
  addresses: string[];
  /** The root namespace's address on the link: the source address of connections to this host. */
  gatewayIpv4: string;
  /** External host only: a second IPv4 address (for allowlist tests) and an IPv6 address (short form). */
  ipv4Alt?: string;
  ipv6?: string;
  gatewayIpv6?: string;
}

/** 'root' or a host: where to run something. */
export type Place = LabHost | 'root';

/** Absolute path of iproute2's ip, set by Lab.create(). */
let IP = 'ip';

function ip(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileP(IP, args);
}

/** The eight 16-bit groups of an IPv6 address. */
function ipv6Groups(addr: string): number[] {
  const [head, tail] = normalizeIp(addr).split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16));
}

function ipv4InSlice(addr: string, base: number[], prefix: number): boolean {
  const a = addr.split('.').map(Number);
  const toInt = (b: number[]) => (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return ((toInt(a) & mask) >>> 0) === ((toInt(base) & mask) >>> 0);
}

/** The address plan of lab number i. */
export function labAddresses(i: number) {
  const ext = 8 * i;
  return {
    extNet: [198, 51, 100, ext],
    extRoot: `198.51.100.${ext + 1}`,
    ext: `198.51.100.${ext + 2}`,
    extAlt: `198.51.100.${ext + 3}`,
    ext6Root: normalizeIp(`2001:db8:b7:${i.toString(16)}::1`),
    ext6: normalizeIp(`2001:db8:b7:${i.toString(16)}::2`),
    intNet: [10, 77, i, 0],
    intRoot: `10.77.${i}.1`,
    int: `10.77.${i}.2`,
  };
}

/** Is any address of this lab number already on an interface of the root namespace (someone else's lab, a leftover)? */
function sliceInUse(i: number, rootAddrs: string[]): boolean {
  const a = labAddresses(i);
  return rootAddrs.some((addr) => {
    if (addr.includes(':')) {
      if (addr.includes('.')) return false; // IPv4-mapped: not ours
      const g = ipv6Groups(addr);
      return g[0] === 0x2001 && g[1] === 0xdb8 && g[2] === 0xb7 && g[3] === i;
    }
    return ipv4InSlice(addr, a.extNet, 29) || ipv4InSlice(addr, a.intNet, 24);
  });
}

async function rootAddresses(): Promise<{ addrs: string[]; ifnames: string[] }> {
  const { stdout } = await ip(['-j', 'addr', 'show']);
  const links = JSON.parse(stdout || '[]') as { ifname: string; addr_info?: { local?: string }[] }[];
  return {
    addrs: links.flatMap((l) => (l.addr_info ?? []).map((x) => x.local).filter((x): x is string => typeof x === 'string')),
    ifnames: links.map((l) => l.ifname),
  };
}

async function netnsNames(): Promise<string[]> {
  const { stdout } = await ip(['netns', 'list']);
  return stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '');
}

async function netnsPids(ns: string): Promise<number[]> {
  try {
    const { stdout } = await ip(['netns', 'pids', ns]);
    return stdout.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
  } catch {
    return [];
  }
}

function ageMs(ns: string): number {
  try {
    return Date.now() - fs.statSync(path.join(NETNS_DIR, ns)).mtimeMs;
  } catch {
    return 0; // gone (or not there yet): not stale
  }
}

/** A claim whose keeper is gone and that is old enough: its test process died without cleanup. */
async function isStale(i: number): Promise<boolean> {
  return (await netnsPids(`bwt${i}`)).length === 0 && ageMs(`bwt${i}`) > STALE_AFTER_MS;
}

/** Field 22 of /proc/<pid>/stat: with the pid, it names one process (pids are reused, start times are not). */
function startTicks(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** The pids file a lab keeps in its temp folder: "pid startTicks" per started process. */
const PIDS_FILE = 'pids';

/** Kills what a dead lab started in the root namespace, as listed in its temp folder, and removes the folder. */
function reclaimRootProcesses(i: number): void {
  for (const dir of fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith(`bwt${i}-`))) {
    const folder = path.join(os.tmpdir(), dir);
    let lines: string[] = [];
    try {
      lines = fs.readFileSync(path.join(folder, PIDS_FILE), 'utf8').split('\n');
    } catch { /* no pids file: nothing was started */ }
    for (const line of lines) {
      const [pid, ticks] = line.split(' ');
      if (pid && ticks && startTicks(Number(pid)) === ticks) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
    }
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

/**
 * Removes what a dead lab number i left: its processes, veths, host namespaces and temp folder, and
 * its claim last, so no new lab can claim the number before the old one is gone. One reclaimer at a
 * time (the bwt<i>-reclaim namespace is the lock); returns false when it did not reclaim.
 */
async function reclaim(i: number): Promise<boolean> {
  const lock = `bwt${i}-reclaim`;
  try {
    await ip(['netns', 'add', lock]);
  } catch {
    if (ageMs(lock) > STALE_AFTER_MS) await ip(['netns', 'del', lock]).catch(() => undefined); // a reclaimer died
    return false;
  }
  try {
    if (!(await isStale(i))) return false;
    const hosts = (await netnsNames()).filter((n) => n.startsWith(`bwt${i}-`) && n !== lock);
    for (const ns of [...hosts, `bwt${i}`]) for (const pid of await netnsPids(ns)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    reclaimRootProcesses(i);
    for (const role of ['ext', 'int']) await ip(['link', 'del', `bwt${i}-${role}`]).catch(() => undefined);
    for (const ns of hosts) await ip(['netns', 'del', ns]).catch(() => undefined);
    await ip(['netns', 'del', `bwt${i}`]).catch(() => undefined);
    process.stderr.write(`test lab: reclaimed stale lab bwt${i} (its test process had died)\n`);
    return true;
  } finally {
    await ip(['netns', 'del', lock]).catch(() => undefined);
  }
}

/** Claims a free lab number atomically: `ip netns add bwt<i>` fails when another lab has it. */
async function claimIndex(): Promise<number> {
  for (let i = 0; i < MAX_LABS; i++) {
    if ((await netnsNames()).includes(`bwt${i}`) && !((await isStale(i)) && (await reclaim(i)))) continue;
    const { addrs, ifnames } = await rootAddresses();
    if (sliceInUse(i, addrs) || ifnames.some((n) => n.startsWith(`bwt${i}-`))) continue;
    try {
      await ip(['netns', 'add', `bwt${i}`]);
      return i;
    } catch {
      continue; // another lab claimed it just now
    }
  }
  throw new Error(`test lab: all ${MAX_LABS} lab numbers are in use (ip netns list shows bwt* namespaces)`);
}

/** Labs not cleaned up yet: the exit and signal handlers tear them down if the tests could not. */
const liveLabs = new Set<Lab>();

function onSignal(sig: NodeJS.Signals): void {
  for (const lab of liveLabs) lab.cleanupSync();
  process.removeListener(sig, onSignal);
  // Die of the signal as we would have without this handler, unless someone else handles it.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function watchExit(lab: Lab): void {
  if (liveLabs.size === 0) {
    process.on('exit', onExit);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  liveLabs.add(lab);
}

function unwatchExit(lab: Lab): void {
  liveLabs.delete(lab);
  if (liveLabs.size === 0) {
    process.removeListener('exit', onExit);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function onExit(): void {
  for (const lab of liveLabs) lab.cleanupSync();
}

/** What this machine lacks to run the lab; an empty list means ready. */
export async function labPrerequisites(tools: readonly string[] = []): Promise<string[]> {
  const missing: string[] = [];
  if (process.platform !== 'linux') return [`network namespaces need Linux (this is ${process.platform})`];
  if (process.getuid?.() !== 0) missing.push('must run as root (ip netns, veth)');
  const ipPath = findExecutable('ip');
  if (ipPath === null) missing.push('ip (iproute2) not found');
  else {
    try {
      await execFileP(ipPath, ['netns', 'list']);
    } catch (err) {
      missing.push(`ip netns does not work: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  for (const t of tools) if (findExecutable(t) === null) missing.push(`${t} not found in PATH`);
  return missing;
}

/** The lab: two test hosts, the processes started on them or in the root namespace, a temp folder. */
export class Lab {
  readonly external: LabHost;
  readonly internal: LabHost;
  private readonly procs: LabProcess[] = [];
  private keeper: LabProcess | null = null;
  private cleaning: Promise<void> | null = null;

  private constructor(readonly index: number, readonly tmpDir: string) {
    const a = labAddresses(index);
    this.external = {
      role: 'external', netns: `bwt${index}-ext`, rootIfname: `bwt${index}-ext`, ipv4: a.ext, ipv4Alt: a.extAlt, ipv6: a.ext6,
      addresses: [a.ext, a.extAlt, a.ext6], gatewayIpv4: a.extRoot, gatewayIpv6: a.ext6Root,
    };
    this.internal = { role: 'internal', netns: `bwt${index}-int`, rootIfname: `bwt${index}-int`, ipv4: a.int, addresses: [a.int], gatewayIpv4: a.intRoot };
  }

  /** Claims a lab number, builds both hosts, makes the temp folder. Cleans up after itself if that fails. */
  static async create(): Promise<Lab> {
    IP = requireExecutable('ip');
    const index = await claimIndex();
    const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `bwt${index}-`)));
    const lab = new Lab(index, tmp);
    watchExit(lab);
    try {
      // The keeper holds the claim: it reads a pipe from this process and exits when this process dies.
      lab.keeper = spawnProcess(IP, ['netns', 'exec', `bwt${index}`, requireExecutable('cat')], 'lab keeper', `bwt${index}`);
      lab.keeper.child.unref();
      for (const s of [lab.keeper.child.stdin, lab.keeper.child.stdout, lab.keeper.child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
      await lab.addHost(lab.external);
      await lab.addHost(lab.internal);
    } catch (err) {
      await lab.cleanup();
      throw err;
    }
    return lab;
  }

  private async addHost(h: LabHost): Promise<void> {
    const ns = h.netns;
    await ip(['netns', 'add', ns]);
    await ip(['link', 'add', h.rootIfname, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    const v4prefix = h.role === 'external' ? 29 : 24;
    await ip(['addr', 'add', `${h.gatewayIpv4}/${v4prefix}`, 'dev', h.rootIfname]);
    await ip(['-n', ns, 'addr', 'add', `${h.ipv4}/${v4prefix}`, 'dev', 'eth0']);
    if (h.ipv4Alt) await ip(['-n', ns, 'addr', 'add', `${h.ipv4Alt}/${v4prefix}`, 'dev', 'eth0']);
    if (h.ipv6 && h.gatewayIpv6) {
      // nodad: usable at once, no duplicate-address detection delay.
      await ip(['-6', 'addr', 'add', `${h.gatewayIpv6}/64`, 'dev', h.rootIfname, 'nodad']);
      await ip(['-n', ns, '-6', 'addr', 'add', `${h.ipv6}/64`, 'dev', 'eth0', 'nodad']);
    }
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['link', 'set', h.rootIfname, 'up']);
  }

  private track(p: LabProcess): LabProcess {
    this.procs.push(p);
    // For reclaim() by a later lab, should this test process die without cleaning up (SIGKILL).
    const ticks = startTicks(p.pid);
    if (ticks !== null) fs.appendFileSync(path.join(this.tmpDir, PIDS_FILE), `${p.pid} ${ticks}\n`);
    return p;
  }

  /** Starts `command args` on a test host (`ip netns exec`, which execs: the pid is the command's own). */
  spawnIn(host: LabHost, command: string, args: readonly string[], opts?: SpawnOptions): LabProcess {
    const exe = requireExecutable(command);
    return this.track(spawnProcess(IP, ['netns', 'exec', host.netns, exe, ...args], `${path.basename(exe)} ${args.join(' ')}`, host.netns, opts));
  }

  /** Starts `command args` in the root namespace, directly (no shell, no wrapper). */
  spawnRoot(command: string, args: readonly string[], opts?: SpawnOptions): LabProcess {
    const exe = requireExecutable(command);
    return this.track(spawnProcess(exe, args, `${path.basename(exe)} ${args.join(' ')}`, null, opts));
  }

  /** spawnIn or spawnRoot by place. */
  spawn(place: Place, command: string, args: readonly string[], opts?: SpawnOptions): LabProcess {
    return place === 'root' ? this.spawnRoot(command, args, opts) : this.spawnIn(place, command, args, opts);
  }

  /** Writes a file in the lab's temp folder (removed on cleanup) and returns its path. */
  writeFile(name: string, content: string | Buffer, mode = 0o644): string {
    const file = path.join(this.tmpDir, name);
    fs.writeFileSync(file, content, { mode });
    return file;
  }

  /**
   * Starts a real mosquitto broker on `place` with one `listener port addr` per address (default:
   * every address of the host; 127.0.0.1 in the root namespace) and anonymous access, and waits
   * until each address accepts connections.
   */
  async startMosquitto(place: Place, port: number, addresses?: readonly string[]): Promise<LabProcess> {
    const addrs = addresses ?? (place === 'root' ? ['127.0.0.1'] : place.addresses);
    const conf = [
      ...addrs.map((a) => `listener ${port} ${a}`),
      'allow_anonymous true', // mosquitto 2 refuses remote clients without it
      'persistence false',
      'log_dest stderr',
      '',
    ].join('\n');
    const where = place === 'root' ? 'root' : place.netns;
    const file = this.writeFile(`mosquitto-${where}-${port}.conf`, conf);
    const broker = this.spawn(place, 'mosquitto', ['-c', file]);
    for (const a of addrs) await waitForPort(a, port, 10_000, broker);
    return broker;
  }

  /**
   * Starts a TCP listener (test/helpers/tcp-sink.mjs under this Node) that accepts any number of
   * connections on each ip:port, reads and discards, and keeps them open.
   */
  async startTcpSink(place: Place, endpoints: readonly { ip: string; port: number }[]): Promise<LabProcess> {
    const script = path.join(__dirname, 'tcp-sink.mjs');
    const sink = this.spawn(place, process.execPath, [script, ...endpoints.map((e) => `${e.ip.includes(':') ? `[${e.ip}]` : e.ip}:${e.port}`)]);
    await sink.waitForOutput(/^LISTENING$/m, 10_000);
    return sink;
  }

  /** Stops every process still running: those on test hosts first, then the root namespace's. */
  async stopAll(): Promise<void> {
    // Servers close first, so the TIME_WAIT ends sit in the test namespaces (gone with them) and
    // clients in the root namespace close against a live peer instead of lingering in LAST_ACK.
    await Promise.all(this.procs.filter((p) => p.netns !== null).map((p) => p.stop()));
    await Promise.all(this.procs.filter((p) => p.netns === null).map((p) => p.stop()));
    this.procs.splice(0, this.procs.length);
  }

  /** Stops every process, deletes the namespaces and veths, removes the temp folder. Idempotent. */
  cleanup(): Promise<void> {
    this.cleaning ??= this.doCleanup();
    return this.cleaning;
  }

  private async doCleanup(): Promise<void> {
    await this.stopAll();
    for (const h of [this.external, this.internal]) {
      // Anything our processes forked inside our namespaces (the namespaces are ours alone).
      for (const pid of await netnsPids(h.netns)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      await ip(['link', 'del', h.rootIfname]).catch(() => undefined);
      await ip(['netns', 'del', h.netns]).catch(() => undefined);
    }
    await this.keeper?.stop();
    await ip(['netns', 'del', `bwt${this.index}`]).catch(() => undefined);
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
    unwatchExit(this);
  }

  /** Last resort when the test process exits or is signalled before the async cleanup ran. Synchronous. */
  cleanupSync(): void {
    if (!liveLabs.has(this)) return;
    liveLabs.delete(this);
    for (const p of this.procs) p.killNow();
    this.keeper?.killNow();
    const run = (args: string[]): string => {
      try {
        return execFileSync(IP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        return ''; // already gone
      }
    };
    for (const h of [this.external, this.internal]) {
      for (const pid of run(['netns', 'pids', h.netns]).split(/\s+/).filter((p) => /^\d+$/.test(p))) {
        try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      }
      run(['link', 'del', h.rootIfname]);
      run(['netns', 'del', h.netns]);
    }
    run(['netns', 'del', `bwt${this.index}`]);
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

/**
 * One lab for a test file: registers before() to build it and after() to clean it up (also when a
 * test failed). Each test calls get(t): it returns the lab, or skips the test with the reason when a
 * prerequisite is missing - except under CI=true, where a missing prerequisite fails the test.
 */
export function useLab(tools: readonly string[] = []): { get(t: TestContext): Lab | undefined } {
  let lab: Lab | undefined;
  let missing: string[] = [];
  let failure: Error | undefined;
  before(async () => {
    missing = await labPrerequisites(tools);
    if (missing.length > 0) return;
    try {
      lab = await Lab.create();
    } catch (err) {
      failure = err as Error;
    }
  });
  after(async () => {
    await lab?.cleanup();
  });
  return {
    get(t: TestContext): Lab | undefined {
      if (missing.length > 0) {
        const reason = `test lab unavailable: ${missing.join('; ')}`;
        if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: a missing prerequisite is a failure)`);
        t.skip(reason);
        return undefined;
      }
      if (failure) throw failure;
      if (!lab) throw new Error('test lab: not created (before() did not run?)');
      return lab;
    },
  };
}

/**
 * The control socket with real Unix sockets in a temp folder: permissions, a non-root user kept
 * out, malformed input answered without harm, stale and live sockets, the client's errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlClientError, sendControlRequest, waitUntilGone } from '../../src/control/client';
import { type ControlHandlers, type ControlServer, startControlServer } from '../../src/control/server';
import { memoryLogger } from '../../src/core/logger';
import { needs, nobody, notRoot } from './needs';

let tmp = '';
before(() => { tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'bw-ctl-'))); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function socketIn(dirMode?: number): string {
  const dir = path.join(tmp, `d${n++}`);
  if (dirMode !== undefined) {
    fs.mkdirSync(dir);
    fs.chmodSync(dir, dirMode);
  }
  return path.join(dir, 'bw.sock');
}

function handlers(log: string[] = []): ControlHandlers {
  return {
    status: () => ({ pid: process.pid, answered: log.length }),
    reload: async () => (log.push('reload'), log.length % 2 === 1 ? { ok: true, message: 'reloaded' } : { ok: false, message: 'bad.yaml: mode: invalid' }),
    stop: async () => { log.push('stop'); },
  };
}

/** Sends raw bytes, then collects what the server says until it closes or `untilLines` lines came. */
function raw(socketPath: string, send: (s: net.Socket) => void, untilLines = Infinity, timeoutMs = 5000): Promise<{ lines: string[]; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.createConnection(socketPath);
    let buf = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ lines: buf.split('\n').filter((l) => l !== ''), closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('connect', () => send(s));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.split('\n').length - 1 >= untilLines) done(false);
    });
    s.on('error', () => undefined); // a reset after an oversized write is expected
    s.on('close', () => done(true));
  });
}

async function withServer(fn: (srv: ControlServer, p: string) => Promise<void>, socketPath = socketIn(), opts: { idleTimeoutMs?: number } = {}): Promise<void> {
  const srv = await startControlServer({ socketPath, handlers: handlers(), ...opts });
  try {
    await fn(srv, socketPath);
  } finally {
    await srv.close();
  }
}

describe('control server', () => {
  it('creates its folder 0700 and the socket 0600, answers status, removes the socket on close', async () => {
    const p = socketIn();
    await withServer(async () => {
      assert.equal(fs.statSync(path.dirname(p)).mode & 0o777, 0o700);
      const st = fs.lstatSync(p);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o600);
      const reply = await sendControlRequest(p, 'status', { id: 'a1' });
      assert.deepEqual(reply, { ok: true, id: 'a1', result: { pid: process.pid, answered: 0 } });
    }, p);
    assert.equal(fs.existsSync(p), false);
    assert.equal(await waitUntilGone(p, 100), true);
  });

  it('keeps a non-root user out (EACCES), through the folder and through the socket mode alone', async (t) => {
    const who = nobody();
    if (!needs(t, [notRoot(), who ? null : 'no "nobody" account'])) return;
    fs.chmodSync(tmp, 0o711); // let nobody reach the test folders; each case decides the rest
    const connectAs = (socketPath: string) => new Promise<string>((resolve, reject) => {
      const script = `const s=require('net').createConnection(process.argv[1]);s.on('connect',()=>{console.log('CONNECTED');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)})`;
      const child = spawn(process.execPath, ['-e', script, socketPath], { uid: who!.uid, gid: who!.gid, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      child.on('error', reject);
      child.on('close', () => resolve(out.trim()));
    });
    await withServer(async (_srv, p) => assert.equal(await connectAs(p), 'EACCES')); // 0700 folder
    // A 0755 folder (allowed: not writable by others) leaves only the socket's own 0600 mode.
    await withServer(async (_srv, p) => {
      assert.equal(fs.statSync(path.dirname(p)).mode & 0o777, 0o755);
      assert.equal(await connectAs(p), 'EACCES');
      assert.equal((await sendControlRequest(p, 'status')).ok, true, 'root still gets in');
    }, socketIn(0o755));
  });

  it('answers garbage, unknown commands and bad UTF-8 with errors and keeps the connection', async () => {
    await withServer(async (_srv, p) => {
      const r = await raw(p, (s) => {
        s.write('hello there\n');
        s.write('{"command":"format c:"}\n');
        s.write(Buffer.from([0xc3, 0x28, 0x0a]));
        s.write('\n   \n'); // blank lines are ignored
        s.write('[]\n{"command":"status","id":9}\n');
      }, 5);
      assert.equal(r.closed, false);
      const replies = r.lines.map((l) => JSON.parse(l) as { ok: boolean; error?: string; id?: number });
      assert.deepEqual(replies.map((x) => x.ok), [false, false, false, false, true]);
      assert.match(replies[0]?.error ?? '', /not JSON/);
      assert.match(replies[1]?.error ?? '', /unknown command "format c:"/);
      assert.match(replies[2]?.error ?? '', /UTF-8/);
      assert.equal(replies[4]?.id, 9);
    });
  });

  it('answers a 10 MB line with "too long", closes that connection, and goes on serving others', async () => {
    await withServer(async (_srv, p) => {
      const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
      const r = await raw(p, (s) => { s.write(big); s.write('\n'); });
      assert.equal(r.closed, true);
      assert.match(r.lines[0] ?? '', /request too long: over 65536 bytes/);
      assert.equal((await sendControlRequest(p, 'status')).ok, true);
    });
  });

  it('drops half a line when the peer closes, and goes on serving', async () => {
    await withServer(async (_srv, p) => {
      const r = await raw(p, (s) => s.end('{"command":"sta'));
      assert.deepEqual(r.lines, []);
      assert.equal(r.closed, true);
      assert.equal((await sendControlRequest(p, 'status')).ok, true);
    });
  });

  it('answers a request whose sender already shut its side (echo ... | socat)', async () => {
    await withServer(async (_srv, p) => {
      const r = await raw(p, (s) => s.end('{"command":"status","id":1}\n{"command":"nope"}\n'));
      assert.equal(r.closed, true);
      assert.deepEqual(r.lines.map((l) => (JSON.parse(l) as { ok: boolean }).ok), [true, false]);
    });
  });

  it('closes a connection that stays silent past the idle timeout', async () => {
    await withServer(async (_srv, p) => {
      const started = Date.now();
      const r = await raw(p, () => undefined);
      assert.equal(r.closed, true);
      assert.ok(Date.now() - started < 4000);
    }, socketIn(), { idleTimeoutMs: 200 });
  });

  it('relays reload outcomes and stop', async () => {
    const log: string[] = [];
    const p = socketIn();
    const srv = await startControlServer({ socketPath: p, handlers: handlers(log) });
    try {
      assert.deepEqual(await sendControlRequest(p, 'reload'), { ok: true, result: { message: 'reloaded' } });
      assert.deepEqual(await sendControlRequest(p, 'reload'), { ok: false, error: 'bad.yaml: mode: invalid' });
      const stopped = await sendControlRequest(p, 'stop');
      assert.equal(stopped.ok, true);
      assert.deepEqual(log, ['reload', 'reload', 'stop']);
    } finally {
      await srv.close();
    }
  });

  it('turns a handler that throws into an error reply', async () => {
    const p = socketIn();
    const srv = await startControlServer({ socketPath: p, handlers: { ...handlers(), status: () => { throw new Error('boom'); } } });
    try {
      assert.deepEqual(await sendControlRequest(p, 'status'), { ok: false, error: 'status failed: boom' });
    } finally {
      await srv.close();
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const srv2 = await startControlServer({ socketPath: socketIn(), handlers: { ...handlers(), status: () => cyclic } });
    try {
      const r = await sendControlRequest(srv2.path, 'status');
      assert.ok(!r.ok && /^the reply could not be encoded: /.test(r.error));
      assert.equal((await sendControlRequest(srv2.path, 'status')).ok, false, 'still serving');
    } finally {
      await srv2.close();
    }
  });
});

describe('control socket path checks', () => {
  it('replaces a stale socket left by a dead process', async () => {
    const p = socketIn(0o700);
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(process.argv[1],()=>console.log('up'))`, p], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid as number, 'SIGKILL');
    await exited;
    assert.ok(fs.lstatSync(p).isSocket(), 'the dead process left its socket file');
    const entries: { level: string; message: string }[] = [];
    const srv = await startControlServer({ socketPath: p, handlers: handlers(), log: memoryLogger(entries) });
    const logged = entries.map((e) => e.message);
    try {
      assert.equal((await sendControlRequest(p, 'status')).ok, true);
      assert.ok(logged.some((m) => m.startsWith(`removed a stale control socket ${p}`)), logged.join('\n'));
    } finally {
      await srv.close();
    }
  });

  it('refuses to start beside a live daemon, a symlinked folder, a writable folder, a foreign owner, a non-socket', async (t) => {
    const p = socketIn();
    await withServer(async () => {
      await assert.rejects(startControlServer({ socketPath: p, handlers: handlers() }), /another brokerwatch is running/);
    }, p);

    const real = socketIn(0o700);
    const link = path.join(tmp, `link${n++}`);
    fs.symlinkSync(path.dirname(real), link);
    await assert.rejects(startControlServer({ socketPath: path.join(link, 'bw.sock'), handlers: handlers() }), /is a symbolic link/);

    await assert.rejects(startControlServer({ socketPath: socketIn(0o770), handlers: handlers() }), /writable by its group \(mode 0770\)/);
    await assert.rejects(startControlServer({ socketPath: socketIn(0o777), handlers: handlers() }), /writable by everyone/);

    const file = socketIn(0o700);
    fs.writeFileSync(file, 'not a socket');
    await assert.rejects(startControlServer({ socketPath: file, handlers: handlers() }), /not a socket/);
    assert.equal(fs.readFileSync(file, 'utf8'), 'not a socket', 'never deleted');

    const who = nobody();
    if (!needs(t, [notRoot(), who ? null : 'no "nobody" account'])) return;
    const foreign = socketIn(0o700);
    fs.chownSync(path.dirname(foreign), who!.uid, who!.gid);
    await assert.rejects(startControlServer({ socketPath: foreign, handlers: handlers() }), new RegExp(`owned by uid ${who!.uid}`));
  });

  it('client errors are one clear line', async () => {
    const p = socketIn(0o700);
    await assert.rejects(sendControlRequest(p, 'status'), (err: unknown) => err instanceof ControlClientError && err.kind === 'not-running' && err.message === `no daemon listening on ${p}`);
    // A listener that never answers: a timeout, not a hang.
    const mute = net.createServer((c) => c.resume()).listen(p); // reads, never answers
    await new Promise((r) => mute.once('listening', r));
    await assert.rejects(sendControlRequest(p, 'status', { timeoutMs: 300 }), /no reply from the daemon on .* within 0.3 s/);
    await new Promise((r) => mute.close(r));
  });
});

/**
 * The brokers `selftest` talks to on loopback: a real mosquitto when it is installed, otherwise
 * small listeners of its own that answer just enough of MQTT 3.1.1 (CONNACK, SUBACK, PINGRESP) and
 * XMPP (a stream header) for the real clients to stay connected. Each listener is ready when start()
 * resolves: a TCP connect to it succeeded (asked, never a fixed sleep).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

export interface Listener {
  name: string;
  port: number;
  close(): Promise<void>;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port (or rejects after timeoutMs). */
export async function waitForListener(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`the listener on 127.0.0.1:${port} exited before it accepted connections`);
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on 127.0.0.1:${port} within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Real mosquitto on 127.0.0.1:port (mosquitto 2 without a config file listens on loopback only). */
export async function startMosquitto(exe: string, port: number): Promise<Listener> {
  const child: ChildProcess = spawn(exe, ['-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString('utf8')).slice(-2000); });
  let exited = false;
  child.on('exit', () => { exited = true; });
  try {
    await waitForListener(port, 10_000, () => !exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`mosquitto -p ${port}: ${(err as Error).message}${stderr ? ` (${stderr.trim().split('\n').pop()})` : ''}`);
  }
  return {
    name: `mosquitto (pid ${child.pid})`,
    port,
    close: () => new Promise<void>((resolve) => {
      if (exited) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Answers the MQTT control packets the CLI clients wait for (one packet per chunk is enough for them). */
function mqttReply(packet: Buffer): Buffer | null {
  const type = (packet[0] ?? 0) >> 4;
  if (type === 1) return Buffer.from([0x20, 0x02, 0x00, 0x00]); // CONNECT -> CONNACK, accepted
  if (type === 12) return Buffer.from([0xd0, 0x00]); // PINGREQ -> PINGRESP
  if (type === 8) {
    // SUBSCRIBE -> SUBACK for its packet id, QoS 0 granted. Remaining length is one byte for the short topics used here.
    const id = packet.subarray(2, 4);
    return Buffer.from([0x90, 0x03, id[0] ?? 0, id[1] ?? 0, 0x00]);
  }
  return null;
}

async function serve(port: number, name: string, onData: (socket: net.Socket, data: Buffer) => void): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (d: Buffer) => onData(s, d));
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    name,
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** brokerwatch's own MQTT listener (when mosquitto is not installed). */
export function startOwnMqtt(port: number): Promise<Listener> {
  return serve(port, 'own MQTT listener', (s, d) => {
    const r = mqttReply(d);
    if (r) s.write(r);
  });
}

/** brokerwatch's own XMPP listener: answers a client's stream header with its own. */
export function startOwnXmpp(port: number): Promise<Listener> {
  return serve(port, 'own XMPP listener', (s, d) => {
    if (d.includes('<stream:stream')) {
      s.write("<?xml version='1.0'?><stream:stream from='localhost' id='selftest' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features/>");
    }
  });
}

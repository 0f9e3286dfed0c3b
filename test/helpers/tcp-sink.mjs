#!/usr/bin/env node
// Test listener: `node tcp-sink.mjs IP:PORT [IP:PORT ...]` ([v6]:port for IPv6). Accepts any number
// of connections on each endpoint, reads and discards what clients send, keeps the connections
// open, and prints LISTENING once every endpoint listens. Used by the lab (test/helpers/lab.ts) as
// the "broker" for protocols that need no real server (XMPP, AMQP, STOMP, anything).
import net from 'node:net';

const sockets = new Set();
const endpoints = process.argv.slice(2).map((arg) => {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(arg);
  if (!m) {
    process.stderr.write(`tcp-sink: bad endpoint ${arg} (want IP:PORT or [IPv6]:PORT)\n`);
    process.exit(2);
  }
  return { host: m[1], port: Number(m[2]) };
});

let pending = endpoints.length;
for (const { host, port } of endpoints) {
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('data', () => undefined);
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
  });
  server.on('error', (err) => {
    process.stderr.write(`tcp-sink: ${host} port ${port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen({ host, port, ipv6Only: host.includes(':'), exclusive: true }, () => {
    if (--pending === 0) process.stdout.write('LISTENING\n');
  });
}

process.on('SIGTERM', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});

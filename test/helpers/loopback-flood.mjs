#!/usr/bin/env node
// Test load: `node loopback-flood.mjs PORT COUNT` listens on 127.0.0.1:PORT and opens COUNT client
// connections to it from this same process (2 x COUNT sockets), prints READY <count> when all are
// established, and holds them. On SIGTERM the clients are reset (RST), so no TIME_WAIT sockets stay
// behind to slow down whatever runs next. Needs a file descriptor limit above 2 x COUNT.
import net from 'node:net';

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const clients = [];
const accepted = [];
const server = net.createServer((sock) => {
  accepted.push(sock);
  sock.on('error', () => undefined);
});
server.maxConnections = count + 16;
server.on('error', (err) => {
  process.stderr.write(`loopback-flood: ${err.message}\n`);
  process.exit(1);
});
server.listen({ host: '127.0.0.1', port, backlog: 4096, exclusive: true }, async () => {
  const BATCH = 500;
  for (let i = 0; i < count; i += BATCH) {
    const n = Math.min(BATCH, count - i);
    await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port }, () => resolve(undefined));
      sock.once('error', reject);
      clients.push(sock);
    }))).catch((err) => {
      process.stderr.write(`loopback-flood: connect failed after ${clients.length} sockets: ${err.message}\n`);
      process.exit(1);
    });
  }
  while (accepted.length < count) await new Promise((r) => setTimeout(r, 10));
  process.stdout.write(`READY ${clients.length}\n`);
});

process.on('SIGTERM', () => {
  for (const s of clients) s.resetAndDestroy();
  for (const s of accepted) s.destroy();
  process.exit(0);
});

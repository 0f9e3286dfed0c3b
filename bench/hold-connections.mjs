#!/usr/bin/env node
// Bench load: `node hold-connections.mjs IP PORT COUNT` opens COUNT TCP connections to IP:PORT,
// prints READY <count> once all are established, and holds them until SIGTERM (then resets them).
import net from 'node:net';

const [ip, port, count] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const socks = [];
for (let i = 0; i < count; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => new Promise((resolve, reject) => {
    const s = net.connect({ host: ip, port }, () => resolve(undefined));
    s.once('error', reject);
    socks.push(s);
  })));
}
process.stdout.write(`READY ${socks.length}\n`);
process.on('SIGTERM', () => {
  for (const s of socks) s.resetAndDestroy();
  process.exit(0);
});
setInterval(() => undefined, 1 << 30);

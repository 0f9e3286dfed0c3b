// A Windows Node client for the Wine tests: connects to each HOST:PORT:KIND given, sends the
// protocol's first bytes (kind xmpp or amqp), writes {pid, execPath, connections} to OUTFILE once
// all are connected, and holds them until killed.
// Usage: node.exe wine-client.js OUTFILE HOST:PORT:KIND [...]
'use strict';
const fs = require('node:fs');
const net = require('node:net');

const FIRST_BYTES = {
  xmpp: "<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\n",
  amqp: Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'),
};
const [out, ...targets] = process.argv.slice(2);
const connections = [];
let pending = targets.length;
for (const t of targets) {
  const [host, port, kind] = t.split(':');
  const s = net.connect(Number(port), host, () => {
    s.write(FIRST_BYTES[kind] ?? '');
    connections.push({ host, port: Number(port), localPort: s.localPort });
    if (--pending === 0) fs.writeFileSync(out, JSON.stringify({ pid: process.pid, execPath: process.execPath, connections }));
  });
  s.on('error', (err) => { fs.writeFileSync(`${out}.error`, String(err)); process.exit(1); });
}
setInterval(() => undefined, 60_000);

/**
 * netlink sock_diag and /proc/net text agree on real sockets: connections held by real processes
 * in the root namespace (IPv4 and IPv6) and inside a test host's namespace (read through setns),
 * seen by the same ProcfsReader once through netlink and once through text.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectionEvent } from '../../../../src/core/types';
import { ProcfsReader } from '../../../../platform/linux/procfs/read';
import { readNamespaceTables } from '../../../../platform/linux/netlink/read';
import { useLab, waitForEstablished } from '../../../helpers/lab';

const labs = useLab(['nc']);

const key = (e: ConnectionEvent) => [e.netns, e.transport, e.family, `${e.source.ip}:${e.source.port}`, `${e.destination.ip}:${e.destination.port}`, e.state, e.inode, e.process?.pid ?? '-'].join(' ');

test('netlink and /proc/net text find the same sockets, owners and namespaces', async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  const ext = lab.external;
  const port = 20000 + ((process.pid * 7) % 20000); // a port only this test uses (its own test host)
  await lab.startTcpSink(ext, [{ ip: ext.ipv4, port }, { ip: ext.ipv6 as string, port }]);
  const v4 = lab.spawnRoot('nc', [ext.ipv4, String(port)]);
  const v6 = lab.spawnRoot('nc', ['-6', ext.ipv6 as string, String(port)]);
  const inside = lab.spawnIn(ext, 'nc', [ext.ipv4, String(port)]); // a client inside the test host's namespace
  await Promise.all([waitForEstablished(v4, ext.ipv4, port), waitForEstablished(v6, ext.ipv6 as string, port), waitForEstablished(inside, ext.ipv4, port)]);

  const opts = { procRoot: '/proc', isCandidate: (_ip: string, p: number) => p === port, isWatchedPort: (p: number) => p === port, watchedPorts: [port] };
  const viaNetlink = await new ProcfsReader(opts).snapshot();
  const viaText = await new ProcfsReader({ ...opts, diag: false }).snapshot();
  const mine = (s: { connections: ConnectionEvent[] }) => s.connections.filter((e) => e.destination.port === port).map(key).sort();
  assert.deepEqual(viaNetlink.warnings.filter((w) => w.code === 'netlink-unavailable'), [], 'netlink read every namespace');
  assert.deepEqual(mine(viaNetlink), mine(viaText));
  const pids = new Set(viaNetlink.connections.filter((e) => e.destination.port === port).map((e) => e.process?.pid));
  for (const p of [v4, v6, inside]) assert.ok(pids.has(p.pid), `the connection of ${p.describe()} is attributed`);
  assert.ok(new Set(viaNetlink.connections.filter((e) => e.destination.port === port).map((e) => e.netns)).size >= 2, 'sockets of two namespaces');
});

test('the kernel filter returns only sockets to the watched ports', async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  const ext = lab.external;
  const port = 20000 + ((process.pid * 11) % 20000);
  const other = port + 1; // a connection the filter must leave out, whatever else the host holds
  await lab.startTcpSink(ext, [{ ip: ext.ipv4, port }, { ip: ext.ipv4, port: other }]);
  const nc = lab.spawnRoot('nc', [ext.ipv4, String(port)]);
  const unwatched = lab.spawnRoot('nc', [ext.ipv4, String(other)]);
  await waitForEstablished(nc, ext.ipv4, port);
  await waitForEstablished(unwatched, ext.ipv4, other);
  const filtered = readNamespaceTables(null, [port]);
  assert.equal(filtered.unfiltered, false);
  assert.ok(filtered.rows.length >= 1);
  for (const r of filtered.rows) assert.equal(r.remote.port, port, `only destination port ${port}: ${JSON.stringify(r)}`);
  const all = readNamespaceTables(null, undefined);
  assert.ok(all.rows.some((r) => r.remote.port === other), 'an unfiltered dump holds the other connection too');
  assert.ok(all.listening.size > 0, 'listening TCP ports are reported');
});

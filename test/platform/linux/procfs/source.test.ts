import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProcfsSource, socketKey } from '../../../../platform/linux/procfs/source';
import { isCandidate } from '../../../../src/analyzer/judge';
import { compileRules } from '../../../../src/analyzer/rules';
import { loadConfig } from '../../../../src/config/load';
import type { ConnectionEvent, Snapshot } from '../../../../src/core/types';
import { materializeProctree } from '../../../fixtures/linux/materialize-proctree';

const rules = compileRules(loadConfig().config, { platform: 'linux' });

test('the poller reports each connection once per lifetime and walks fds only for new ones', async () => {
  const tree = materializeProctree();
  const emitted: ConnectionEvent[] = [];
  const snaps: Snapshot[] = [];
  let resolveThird: () => void;
  const third = new Promise<void>((r) => { resolveThird = r; });
  const source = new ProcfsSource(
    { procRoot: tree.root, etcRoot: tree.etc, isCandidate: (ip, port) => isCandidate(ip, port, rules) },
    undefined,
    20,
    { onSnapshot: (s) => { snaps.push(s); if (snaps.length === 3) resolveThird(); } },
  );
  try {
    await source.start((e) => emitted.push(e));
    await third;
  } finally {
    await source.close();
    tree.cleanup();
  }
  const first = snaps[0] as Snapshot;
  assert.ok(first.connections.length > 0);
  assert.ok((first.stats.fdWalks ?? 0) > 0, 'the first poll attributes');
  assert.equal(emitted.length, first.connections.length, 'every connection is emitted once');
  assert.equal(new Set(emitted.map(socketKey)).size, emitted.length);
  assert.ok(emitted.some((e) => e.process !== undefined), 'with their owners');
  // The tree has one candidate socket whose owner vanished: it is held back one poll for a retry
  // (its owner may just have started), then emitted without an owner.
  const ownerless = emitted.filter((e) => e.process === undefined && (e.inode ?? 0) !== 0);
  assert.ok(ownerless.length > 0);
  assert.ok((snaps[1]?.stats.fdWalks ?? 0) > 0, 'the retry walks again');
  const last = snaps[2] as Snapshot;
  assert.equal(last.stats.fdWalks, 0, 'unchanged tables: no fd walk');
  assert.equal(last.stats.known, first.connections.length);
});

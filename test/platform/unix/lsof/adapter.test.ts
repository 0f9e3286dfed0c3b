import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { adapterNames, createSource } from '../../../../platform';
import { LSOF_PATHS, locateTool } from '../../../../platform/unix/lsof/read';
import { loadConfig } from '../../../../src/config/load';
import { AdapterUnavailableError } from '../../../../src/core/source';

const config = loadConfig().config;
const ctx = (platform: NodeJS.Platform) => ({ config, isCandidate: () => true, platform });

test('lsof is registered, the auto default on macOS, and refused where it does not run', () => {
  assert.ok(adapterNames().includes('lsof'));
  if (locateTool(LSOF_PATHS) !== null) {
    assert.equal(createSource('auto', ctx('darwin')).name, 'lsof');
    assert.equal(createSource('lsof', ctx('linux')).name, 'lsof');
  }
  assert.throws(() => createSource('lsof', ctx('win32')), (err: unknown) => err instanceof AdapterUnavailableError && /runs on darwin, linux, not on win32/.test(err.message));
});

test('on Linux the lsof adapter reads /proc for exe paths and never loads libproc or koffi', async (t) => {
  if (process.platform !== 'linux' || locateTool(LSOF_PATHS) === null) {
    const reason = process.platform !== 'linux' ? 'Linux only' : `lsof not found in ${LSOF_PATHS.join(', ')}`;
    if (process.env.CI === 'true' && process.platform === 'linux') throw new Error(`${reason} (CI=true: a missing prerequisite is a failure)`);
    t.skip(reason);
    return;
  }
  const source = createSource('lsof', { ...ctx('linux'), isCandidate: () => true });
  try {
    const snap = await (source.snapshot as () => ReturnType<NonNullable<typeof source.snapshot>>)();
    assert.ok(Array.isArray(snap.connections));
  } finally {
    await source.close();
  }
  const modules = Object.keys(require.cache);
  assert.ok(modules.some((k) => k.includes(`${path.sep}lsof${path.sep}read`)), 'require.cache lists the modules this process loaded');
  const loaded = modules.filter((k) => k.includes(`${path.sep}libproc${path.sep}`) || k.includes(`${path.sep}koffi${path.sep}`));
  assert.deepEqual(loaded, []);
});

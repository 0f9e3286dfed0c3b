/**
 * `brokerwatch run` with a valid config either starts or exits 2 with one line naming the problem.
 * These configs cannot start (no root needed to see that): the process must end at once, exit 2,
 * with the reason in one `brokerwatch:` line - never "falling back" and then failing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli';

function config(dir: string, extra: Record<string, unknown>): string {
  const file = path.join(dir, `c-${Object.keys(extra).join('-')}.yaml`);
  fs.writeFileSync(file, JSON.stringify({
    sinks: [{ type: 'file', path: path.join(dir, 'events.jsonl') }],
    control: { socket: path.join(dir, 'ctl', 'bw.sock') },
    stateDir: path.join(dir, 'state'),
    ...extra,
  }));
  return file;
}

test('run: a capture that cannot start exits 2 with one line naming it', async (t) => {
  if (process.platform !== 'linux') return t.skip('the adapters named here are Linux ones');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-start-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const noProc = path.join(dir, 'no-proc');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ adapter: 'procfs', procRoot: noProc }, new RegExp(`^brokerwatch: procfs adapter unavailable: no procfs at ${noProc} \\(set procRoot in the config\\)$`)],
    // eBPF cannot start (no bpftrace there) and its procfs fallback cannot either: both reasons, one line.
    [{ adapter: 'ebpf', bpftracePath: path.join(dir, 'missing', 'bpftrace'), procRoot: noProc }, /^brokerwatch: ebpf adapter unavailable: .*missing\/bpftrace.*; and its fallback, procfs: no procfs at /],
  ];
  for (const [extra, line] of cases) {
    const r = await runCli(['run', '--config', config(dir, extra)], 60_000);
    assert.equal(r.code, 2, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('brokerwatch:'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0] as string, line);
    assert.doesNotMatch(r.stderr, /capturing with|falling back/);
  }
});

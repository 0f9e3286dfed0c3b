import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { attackScene } from '../helpers/attacker';
import { runCli } from '../helpers/cli';

/** nobody plants the temp names the old code used (.NAME.PID.tmp) for the next pids, pointing at root's file. */
function plantTempLinks(s: NonNullable<ReturnType<typeof attackScene>>, folder: string, name: string): void {
  const last = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  s.plantLinks(path.join(folder, `.${name}.%d.tmp`), last, last + 3000, s.secret);
}

test('scan --output into a world-writable folder without the sticky bit: refused, root\'s file untouched', async (t) => {
  const s = attackScene(t);
  if (!s) return;
  plantTempLinks(s, s.open, 'scan.json');
  const out = path.join(s.open, 'scan.json');
  const r = await runCli(['scan', '--json', '--output', out]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /refusing to use .*\/open: it is writable by everyone without the sticky bit \(mode 0777\): anyone could replace files in it \(for the report \(--output\)\)/);
  assert.ok(!fs.existsSync(out));
  assert.ok(s.secretUntouched(), 'the root-only file is unchanged');
});

test('scan --output into a sticky /tmp-like folder with planted temp links and a link at the name: the report lands, nothing is followed', async (t) => {
  const s = attackScene(t);
  if (!s) return;
  plantTempLinks(s, s.sticky, 'scan.json');
  const out = path.join(s.sticky, 'scan.json');
  s.plantLink(out, s.secret);
  const r = await runCli(['scan', '--json', '--output', out]);
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  const st = fs.lstatSync(out);
  assert.ok(st.isFile() && st.uid === 0, 'the link was replaced by root\'s report');
  assert.ok(Array.isArray((JSON.parse(fs.readFileSync(out, 'utf8')) as { findings: unknown[] }).findings));
  assert.ok(s.secretUntouched(), 'the root-only file is unchanged');
});

/** Windows process facts: pure decoders, command-line splitting, and partial records for protected processes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileTimeToIso, parseProcessEntry, parseUnicodeString, PROCESSENTRY32W_SIZE, splitCommandLine } from '../../../platform/windows/process/parse';
import { processInfo, type Win32Process } from '../../../platform/windows/process/read';
import { WarningCollector } from '../../../src/core/warnings';

test('PROCESSENTRY32W (x64, 568 bytes): pid +8, parent +32, image name +44; short buffers refused', () => {
  const b = Buffer.alloc(PROCESSENTRY32W_SIZE, 0xa5);
  b.writeUInt32LE(PROCESSENTRY32W_SIZE, 0);
  b.writeUInt32LE(6120, 8);
  b.writeUInt32LE(880, 32);
  b.fill(0, 44, 564);
  b.write('powershell.exe', 44, 'utf16le');
  assert.deepEqual(parseProcessEntry(b), { pid: 6120, ppid: 880, name: 'powershell.exe' });
  b.write('x'.repeat(260), 44, 'utf16le'); // no terminator: stops at the field's end
  assert.equal(parseProcessEntry(b).name.length, 260);
  assert.throws(() => parseProcessEntry(b.subarray(0, 100)), /PROCESSENTRY32W: 100 bytes, expected 568/);
});

test('FILETIME to ISO 8601; zero is no time', () => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(116444736000000000n + 17356896000000000n, 0); // 2025-01-01
  assert.equal(fileTimeToIso(b), '2025-01-01T00:00:00.000Z');
  assert.equal(fileTimeToIso(Buffer.alloc(8)), null);
  assert.equal(fileTimeToIso(Buffer.alloc(4)), null);
});

test('UNICODE_STRING: byte length and buffer pointer; odd lengths are corrupt', () => {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(20, 0);
  b.writeUInt16LE(22, 2);
  b.writeBigUInt64LE(0x1234560n, 8);
  assert.deepEqual(parseUnicodeString(b), { length: 20, buffer: 0x1234560n });
  b.writeUInt16LE(21, 0);
  assert.throws(() => parseUnicodeString(b), /odd length 21/);
});

test('command lines split by the C runtime rules (quotes, backslashes before quotes, doubled quotes)', () => {
  const cases: [string, string[]][] = [
    ['"C:\\Program Files\\nodejs\\node.exe" client.js --host 198.51.100.7', ['C:\\Program Files\\nodejs\\node.exe', 'client.js', '--host', '198.51.100.7']],
    ['powershell.exe -enc "SQBFAFgA"', ['powershell.exe', '-enc', 'SQBFAFgA']],
    ['a.exe "a b" c\\\\"d e"', ['a.exe', 'a b', 'c\\d e']],
    ['a.exe \\"quoted\\" x\\y', ['a.exe', '"quoted"', 'x\\y']],
    ['a.exe "say ""hi"""', ['a.exe', 'say "hi"']],
    ['C:\\dir\\b.exe   \t  tail  ', ['C:\\dir\\b.exe', 'tail']],
    ['', ['']],
  ];
  for (const [line, argv] of cases) assert.deepEqual(splitCommandLine(line), argv, line);
});

function fakeApi(facts: Record<number, ReturnType<Win32Process['query']>>): Win32Process {
  return { processes: () => new Map(), query: (pid) => facts[pid] ?? { error: 87 } };
}

test('a protected process (access denied) is a partial record - name and parent from Toolhelp - plus a warning', () => {
  const warn = new WarningCollector();
  const entries = new Map([[700, { pid: 700, ppid: 4, name: 'MsMpEng.exe' }], [4, { pid: 4, ppid: 0, name: 'System' }]]);
  const info = processInfo(fakeApi({ 700: { error: 5 }, 4: { error: 5 } }), 700, entries, warn);
  assert.deepEqual(info, { pid: 700, name: 'MsMpEng.exe', ppid: 4, parentName: 'System' });
  assert.deepEqual(warn.list().map((w) => w.code), ['proc-access-denied']);
});

test('a pid gone from Toolhelp and OpenProcess is no owner (warning); a pid reused after the table read is refused', () => {
  const warn = new WarningCollector();
  assert.equal(processInfo(fakeApi({}), 9999, new Map(), warn), null);
  const entries = new Map([[42, { pid: 42, ppid: 1, name: 'node.exe' }]]);
  const reused = processInfo(fakeApi({ 42: { exe: 'C:\\x\\node.exe', startTime: '2026-01-02T00:00:01.000Z', cmdline: 'node.exe' } }), 42, entries, warn, '2026-01-02T00:00:00.000Z');
  assert.equal(reused, null);
  assert.deepEqual(warn.list().map((w) => w.code), ['proc-vanished', 'proc-pid-reused']);
});

test('a parent that started after the child is a reused parent pid: not reported as the parent', () => {
  const warn = new WarningCollector();
  const entries = new Map([[42, { pid: 42, ppid: 7, name: 'python.exe' }], [7, { pid: 7, ppid: 1, name: 'explorer.exe' }]]);
  const api = fakeApi({ 42: { exe: 'C:\\py\\python.exe', startTime: '2026-01-02T00:00:00.000Z', cmdline: 'python.exe c2.py', user: 'HOST\\alice' }, 7: { exe: 'C:\\Windows\\explorer.exe', startTime: '2026-01-02T00:00:05.000Z' } });
  const info = processInfo(api, 42, entries, warn);
  assert.deepEqual(info, { pid: 42, name: 'python.exe', ppid: 7, exe: 'C:\\py\\python.exe', startTime: '2026-01-02T00:00:00.000Z', user: 'HOST\\alice', cmdline: 'python.exe c2.py', argv: ['python.exe', 'c2.py'] });
  assert.deepEqual(warn.list(), []);
});

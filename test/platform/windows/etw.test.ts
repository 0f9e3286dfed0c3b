/** ETW codecs on constructed Kernel-Network payloads (Wine delivers no events: see the fixture README). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  buildTraceProperties, EtwParseError, guidBytes, guidString, KERNEL_NETWORK_PROVIDER, parseConnectAttempt, parseEventHeader,
} from '../../../platform/windows/etw/parse';
import { EtwSource } from '../../../platform/windows/etw/source';
import { AdapterUnavailableError } from '../../../src/core/source';

const DIR = path.join(__dirname, '..', '..', 'fixtures', 'windows', 'etw');
const read = (f: string) => fs.readFileSync(path.join(DIR, f));

test('event 12 (TCPv4 connection attempted): pid from the payload, ports in network order', () => {
  assert.deepEqual(parseConnectAttempt(12, read('connect-v4.bin')), {
    pid: 6120, family: 4, destination: { ip: '198.51.100.7', port: 5222 }, source: { ip: '10.0.2.15', port: 49702 },
  });
});

test('event 28 (TCPv6): RFC 5952 addresses; IPv4-mapped written as IPv4', () => {
  assert.deepEqual(parseConnectAttempt(28, read('connect-v6.bin')), {
    pid: 8120, family: 6, destination: { ip: '2001:db8:77::2', port: 61613 }, source: { ip: '2001:db8::15', port: 49720 },
  });
  const mapped = parseConnectAttempt(28, read('connect-v6-mapped.bin'));
  assert.deepEqual([mapped?.destination, mapped?.source.ip], [{ ip: '198.51.100.8', port: 5223 }, '10.0.2.15']);
});

test('other events are not connects; truncated payloads are a clear error', () => {
  assert.equal(parseConnectAttempt(10, read('connect-v4.bin')), null);
  assert.throws(() => parseConnectAttempt(12, read('connect-v4-truncated.bin')), (err: Error) => err instanceof EtwParseError && /event 12 payload truncated: 18 bytes, the fields up to sport need 20/.test(err.message));
  assert.throws(() => parseConnectAttempt(28, read('connect-v6.bin').subarray(0, 43)), /event 28 payload truncated: 43 bytes, the fields up to sport need 44/);
  assert.throws(() => parseConnectAttempt(28, Buffer.alloc(0)), /truncated: 0 bytes/);
});

test('EVENT_RECORD header: provider, id, opcode, header pid, user data length; truncated header refused', () => {
  const h = parseEventHeader(read('record-event12.bin'));
  assert.deepEqual({ ...h, timestamp: String(h.timestamp) }, { providerId: KERNEL_NETWORK_PROVIDER, id: 12, version: 0, opcode: 12, headerPid: 4, timestamp: '123456789', userDataLength: 44 });
  assert.throws(() => parseEventHeader(read('record-event12.bin').subarray(0, 100)), /EVENT_RECORD truncated: 100 of 112 bytes/);
});

test('GUIDs round-trip through their in-memory layout; junk is refused', () => {
  const b = guidBytes('{7DD42A49-5329-4832-8DFD-43D979153A88}');
  assert.equal(b.toString('hex'), '492ad47d295332488dfd43d979153a88');
  assert.equal(guidString(b), KERNEL_NETWORK_PROVIDER);
  assert.throws(() => guidBytes('not-a-guid'), /not a GUID/);
});

test('EVENT_TRACE_PROPERTIES: size, real-time mode, QPC clock, traced-GUID flag, name at LoggerNameOffset', () => {
  const p = buildTraceProperties('brokerwatch-kernel-network');
  assert.equal(p.readUInt32LE(0), p.length);
  assert.equal(p.readUInt32LE(40), 1);
  assert.equal(p.readUInt32LE(44), 0x20000);
  assert.equal(p.readUInt32LE(64), 0x100);
  const off = p.readUInt32LE(116);
  assert.equal(off, 120);
  assert.equal(p.toString('utf16le', off, off + 2 * 'brokerwatch-kernel-network'.length), 'brokerwatch-kernel-network');
  assert.equal(p.readUInt16LE(off + 2 * 'brokerwatch-kernel-network'.length), 0, 'NUL-terminated');
});

test('EtwSource: a session that cannot deliver (OpenTraceW fails) is AdapterUnavailableError; decoded connects are emitted, undecodable ones counted', async () => {
  const failing = new EtwSource({ isCandidate: () => true }, { start: () => { throw new Error('OpenTraceW(brokerwatch-kernel-network) failed with error 5'); }, processes: () => { throw new Error('unused'); }, now: () => new Date() });
  await assert.rejects(failing.start(() => undefined), (err: Error) => err instanceof AdapterUnavailableError && /^etw adapter unavailable: OpenTraceW/.test(err.message));

  let handlers: Parameters<NonNullable<ConstructorParameters<typeof EtwSource>[1]>['start']>[0] | null = null;
  const statuses: [boolean, string | undefined][] = [];
  const source = new EtwSource(
    { isCandidate: (ip) => ip.startsWith('198.51.100.'), isPubSubPort: () => true, onStatus: (up, why) => statuses.push([up, why]) },
    { start: (h) => { handlers = h; return { stop: () => undefined }; }, processes: () => ({ processes: () => new Map([[6120, { pid: 6120, ppid: 1, name: 'powershell.exe' }]]), query: () => ({ exe: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', startTime: '2026-01-01T00:00:00.000Z' }) }), now: () => new Date('2026-01-02T00:00:00Z') },
  );
  const events: unknown[] = [];
  await source.start((e) => events.push(e));
  const header = parseEventHeader(read('record-event12.bin'));
  handlers!.onEvent(header, read('connect-v4.bin'));
  handlers!.onEvent(header, read('connect-v4-truncated.bin'));
  handlers!.onEvent({ ...header, providerId: '00000000-0000-0000-0000-000000000000' }, read('connect-v4.bin'));
  assert.equal(events.length, 1);
  assert.deepEqual((events[0] as { process: unknown }).process, { pid: 6120, name: 'powershell.exe', ppid: 1, exe: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', startTime: '2026-01-01T00:00:00.000Z' });
  assert.deepEqual(source.warnings.list().map((w) => [w.code, w.count]).sort(), [['etw-malformed-event', 1], ['proc-partial', 1]]);
  handlers!.onEnd(120);
  assert.deepEqual(statuses, [[true, undefined], [false, 'ProcessTrace returned error 120']]);
  await source.close();
});

test('EtwSource: a session that stays silent is reported down (polling stands in) and up again at the next event', async () => {
  let handlers: Parameters<NonNullable<ConstructorParameters<typeof EtwSource>[1]>['start']>[0] | null = null;
  const statuses: [boolean, string | undefined][] = [];
  let changed: () => void = () => undefined;
  const source = new EtwSource(
    { isCandidate: () => false, silenceMs: 50, onStatus: (up, why) => { statuses.push([up, why]); changed(); } },
    { start: (h) => { handlers = h; return { stop: () => undefined }; }, processes: () => { throw new Error('unused'); }, now: () => new Date() },
  );
  await source.start(() => undefined);
  // The source's silence timer is unref'd (it must not keep the agent alive): hold the loop here.
  const hold = setTimeout(() => undefined, 10_000);
  await new Promise<void>((resolve) => { changed = resolve; });
  clearTimeout(hold);
  assert.deepEqual(statuses, [[true, undefined], [false, 'no events from Microsoft-Windows-Kernel-Network for 0.05 s']]);
  handlers!.onEvent(parseEventHeader(read('record-event12.bin')), read('connect-v4.bin'));
  assert.deepEqual(statuses.at(-1), [true, undefined]);
  assert.equal(source.health().lastError, 'no events from Microsoft-Windows-Kernel-Network for 0.05 s');
  await source.close();
});

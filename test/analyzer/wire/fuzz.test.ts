import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { inspectWire } from '../../../src/analyzer/wire/inspect';
import { DEFAULT_WIRE_CAPS, type WireInfo } from '../../../src/analyzer/wire/types';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'wire');
const captures = fs.readdirSync(FIXTURES).filter((n) => n.endsWith('.bin')).map((n) => fs.readFileSync(path.join(FIXTURES, n)));

/** A deterministic generator, so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

function mutate(bytes: Buffer, r: () => number): Buffer {
  const b = Buffer.from(bytes);
  const edits = 1 + Math.floor(r() * 8);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(r() * b.length);
    const kind = r();
    if (kind < 0.5) b[at] = Math.floor(r() * 256);
    else if (kind < 0.7) b[at] = [0x00, 0xff, 0x7f, 0x80, 0x0a][Math.floor(r() * 5)]!;
    else if (kind < 0.85) return b.subarray(0, at);
    else b.writeUInt8(b[at]! ^ 0x80, at);
  }
  return b;
}

/** Every string in the output: none may hold a control character (framing) and each is capped. */
function checkStrings(info: WireInfo, label: string): void {
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      // eslint-disable-next-line no-control-regex
      assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(v), `${label}: control character in ${JSON.stringify(v)}`);
      assert.ok(v.length <= 4 * DEFAULT_WIRE_CAPS.maxNameLength + 300, `${label}: string of ${v.length} characters`);
    } else if (Array.isArray(v)) { assert.ok(v.length <= DEFAULT_WIRE_CAPS.maxNames, `${label}: list of ${v.length}`); v.forEach(walk); }
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    else if (typeof v === 'number') assert.ok(Number.isFinite(v), `${label}: number ${v}`);
  };
  walk(info);
  JSON.parse(JSON.stringify(info));
}

function split(b: Buffer, r: () => number): { timeMs: number; bytes: Buffer; length?: number }[] {
  const out = [];
  let pos = 0;
  while (pos < b.length) {
    const len = 1 + Math.floor(r() * 64);
    const part = b.subarray(pos, pos + len);
    // Sometimes only a head of the write was captured.
    const head = r() < 0.3 ? part.subarray(0, Math.floor(r() * part.length)) : part;
    out.push({ timeMs: pos, bytes: head, length: part.length });
    pos += len;
  }
  return out;
}

describe('wire parsers under hostile bytes', () => {
  it('mutated real captures: never throw, never a control character or an uncapped list in the output', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const r = rng(seed);
      const base = captures[seed % captures.length]!;
      const bytes = mutate(base, r);
      const chunks = seed % 2 === 0 ? [{ timeMs: 0, bytes }] : split(bytes, r);
      let info: WireInfo;
      try { info = inspectWire(chunks); } catch (err) { assert.fail(`seed ${seed}: threw ${(err as Error).message}`); }
      assert.ok(!info.malformed?.startsWith('parser error'), `seed ${seed}: ${info.malformed}`);
      checkStrings(info, `seed ${seed}`);
    }
  });

  it('random bytes after each protocol prefix', () => {
    const prefixes = [Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05]), Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'),
      Buffer.from('CONNECT\n'), Buffer.from('SEND\ndestination:'), Buffer.from("<?xml version='1.0'?><stream:stream to='"), Buffer.from('GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n'),
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])];
    for (let seed = 1; seed <= 2000; seed++) {
      const r = rng(seed);
      const bytes = Buffer.concat([prefixes[seed % prefixes.length]!, crypto.randomBytes(Math.floor(r() * 600))]);
      let info: WireInfo;
      try { info = inspectWire(seed % 3 === 0 ? split(bytes, r) : [{ timeMs: 0, bytes }]); } catch (err) { assert.fail(`seed ${seed}: threw ${(err as Error).message}`); }
      assert.ok(!info.malformed?.startsWith('parser error'), `seed ${seed}: ${info.malformed}`);
      checkStrings(info, `seed ${seed}`);
    }
  });

  it('a topic with newlines, ESC and U+2028 cannot break a log line; a long topic and many topics are cut and marked', () => {
    const mstr = (s: Buffer) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), s]);
    const pkt = (first: number, body: Buffer) => Buffer.concat([Buffer.from([first]), varint(body.length), body]);
    const connect = pkt(0x10, Buffer.concat([mstr(Buffer.from('MQTT')), Buffer.from([4, 2, 0, 60]), mstr(Buffer.from('x'))]));
    const evil = Buffer.from('a\n{"injected":true}\r\u001b[31m\u2028z');
    const long = Buffer.alloc(5000, 0x41);
    const many = Array.from({ length: 40 }, (_, i) => pkt(0x30, Buffer.concat([mstr(Buffer.from(`t/${i}`)), Buffer.from('p')])));
    const info = inspectWire([{ timeMs: 0, bytes: Buffer.concat([connect, pkt(0x30, Buffer.concat([mstr(evil), Buffer.from('p')])), pkt(0x30, Buffer.concat([mstr(long), Buffer.from('p')])), ...many]) }]);
    checkStrings(info, 'evil');
    assert.equal(info.topics?.[0], 'a\\x0a{"injected":true}\\x0d\\x1b[31m\\u2028z'.replace('\\u2028', '\\x2028'));
    assert.equal(info.topics?.[1], `${'A'.repeat(DEFAULT_WIRE_CAPS.maxNameLength)}…`);
    assert.equal(info.topics?.length, DEFAULT_WIRE_CAPS.maxNames);
    assert.deepEqual(info.cut, ['name', 'topics']);
    assert.equal(info.publishCount, 42);
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 0x80; out.push(b); } while (n > 0);
  return Buffer.from(out);
}

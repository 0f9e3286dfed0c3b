import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toJsonLine, truncateUtf8, wellFormed } from '../../src/format/jsonline';

test('toJsonLine keeps hostile text on one line and inside its string', () => {
  const hostile = 'a\nb\r\u2028c\u2029d"\\\u0000\u001b[31m\u009b\u007f';
  const line = toJsonLine({ cmd: hostile, list: [hostile], n: 1, ok: true, none: null });
  assert.doesNotMatch(line, /[\n\r\u2028\u2029\u0000\u001b\u007f-\u009f]/);
  assert.deepEqual(JSON.parse(line), { cmd: hostile, list: [hostile], n: 1, ok: true, none: null });
  assert.match(line, /\\u2028c\\u2029d/);
  assert.match(line, /\\u009b\\u007f/);
});

test('toJsonLine replaces lone surrogates, so the line is well-formed UTF-8', () => {
  const line = toJsonLine({ s: 'x\ud800y\udc00z\ud83d\ude00', [`k\udfff`]: 1 });
  assert.equal((JSON.parse(line) as { s: string }).s, 'x\ufffdy\ufffdz\ud83d\ude00');
  const bytes = Buffer.from(line, 'utf8');
  assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(bytes), line);
  assert.doesNotMatch(line, /[\ud800-\udfff]/u, 'with the u flag this matches unpaired surrogates only');
});

test('toJsonLine refuses what JSON cannot carry', () => {
  assert.throws(() => toJsonLine(undefined), TypeError);
  assert.throws(() => toJsonLine(() => 1), TypeError);
  assert.throws(() => toJsonLine({ n: 1n }), TypeError);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => toJsonLine(cyclic), TypeError);
});

test('truncateUtf8 never splits a character and keeps text that fits', () => {
  assert.equal(truncateUtf8('abc', 3), 'abc');
  assert.equal(truncateUtf8('ab\u20ac', 4), 'ab', '€ is 3 bytes: it does not fit in the last 2');
  assert.equal(truncateUtf8('a\ud834\udd1e', 4), 'a', 'the 4-byte character is not cut in half');
  assert.equal(truncateUtf8('a\ud834\udd1e', 5), 'a\ud834\udd1e');
  assert.equal(truncateUtf8('\u00e9'.repeat(10), 7), '\u00e9'.repeat(3));
  assert.equal(wellFormed('\udc00\ud800'), '\ufffd\ufffd');
});

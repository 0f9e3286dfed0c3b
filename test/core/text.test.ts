import assert from 'node:assert/strict';
import { test } from 'node:test';
import { safeText } from '../../src/core/text';

test('safeText: C0 and C1 controls, ESC and DEL become \\xNN', () => {
  assert.equal(safeText('a\u001b[31mb\nc\u007f\u009b'), 'a\\x1b[31mb\\x0ac\\x7f\\x9b');
});

test('safeText: line separators and invisible or direction-changing characters become \\uNNNN, never a wrong \\x escape', () => {
  // U+2028 came out as "\x2028", which reads as a space followed by "28".
  assert.equal(safeText('a\u2028b\u2029c'), 'a\\u2028b\\u2029c');
  // A right-to-left override makes a terminal that does bidi show "/tmp/evil\u202Efdp.exe" as ".../evilexe.pdf":
  // a process name or path that reads differently from what it is.
  assert.equal(safeText('/tmp/evil\u202efdp.exe'), '/tmp/evil\\u202efdp.exe');
  for (const c of ['\u200b', '\u200e', '\u200f', '\u202a', '\u202d', '\u2066', '\u2069', '\ufeff', '\u061c']) {
    assert.equal(safeText(`x${c}y`), `x\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}y`, `U+${c.charCodeAt(0).toString(16)}`);
  }
});

test('safeText: ordinary non-ASCII text stays as it is', () => {
  assert.equal(safeText('Zürich 東京 😀 مرحبا'), 'Zürich 東京 😀 مرحبا');
});

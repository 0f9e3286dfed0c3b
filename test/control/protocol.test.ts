import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrame, FrameTooLongError, LineDecoder, parseReply, parseRequest } from '../../src/control/protocol';

describe('LineDecoder', () => {
  it('splits lines across chunks, including a multi-byte character split in two', () => {
    const d = new LineDecoder(100);
    const bytes = Buffer.from('{"command":"stätus"}\n{"a":1}\r\npartial');
    const cut = bytes.indexOf(Buffer.from('ä')) + 1; // inside the two bytes of ä
    assert.deepEqual(d.push(bytes.subarray(0, cut)), []);
    assert.deepEqual(d.push(bytes.subarray(cut)), ['{"command":"stätus"}', '{"a":1}']);
    assert.equal(d.pending, 'partial'.length);
  });

  it('throws FrameTooLongError once a line outgrows the cap, with or without its newline', () => {
    assert.throws(() => new LineDecoder(8).push(Buffer.from('123456789')), FrameTooLongError);
    assert.throws(() => new LineDecoder(8).push(Buffer.from('123456789\n')), FrameTooLongError);
    const d = new LineDecoder(8);
    d.push(Buffer.from('1234'));
    assert.throws(() => d.push(Buffer.from('56789')), FrameTooLongError);
    assert.deepEqual(new LineDecoder(8).push(Buffer.from('12345678\n')), ['12345678']);
  });

  it('turns invalid UTF-8 into null instead of replacement characters', () => {
    assert.deepEqual(new LineDecoder(100).push(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a])), [null]);
  });
});

describe('parseRequest', () => {
  it('accepts the three commands, with a string or number id', () => {
    assert.deepEqual(parseRequest('{"command":"status"}'), { ok: true, request: { command: 'status' } });
    assert.deepEqual(parseRequest('{"command":"reload","id":7}'), { ok: true, request: { command: 'reload', id: 7 } });
    assert.deepEqual(parseRequest('{"id":"x","command":"stop"}'), { ok: true, request: { command: 'stop', id: 'x' } });
  });

  it('answers everything else with an error text (and the id when there is a usable one)', () => {
    const bad: [string | null, RegExp][] = [
      [null, /not valid UTF-8/],
      ['garbage', /not JSON/],
      ['[1,2]', /must be a JSON object/],
      ['"status"', /must be a JSON object/],
      ['null', /must be a JSON object/],
      ['{"command":"rm -rf /"}', /unknown command "rm -rf \/"; expected one of status, reload, stop/],
      ['{"command":"status","extra":1}', /unknown request key "extra"/],
      ['{"command":"status","id":{"x":1}}', /"id" must be/],
      ['{"command":"__proto__"}', /unknown command/],
      ['{}', /unknown command undefined/],
    ];
    for (const [line, re] of bad) {
      const r = parseRequest(line);
      assert.equal(r.ok, false, String(line));
      if (!r.ok) assert.match(r.error, re);
    }
    const withId = parseRequest('{"command":"nope","id":3}');
    assert.equal(withId.ok === false && withId.id, 3);
  });

  it('quotes hostile text in errors so control characters stay escaped', () => {
    const r = parseRequest(JSON.stringify({ command: '\u001b[31mred\n' }));
    assert.ok(!r.ok && !/[\u0000-\u001f]/.test(r.error), 'no raw control characters');
  });
});

describe('frames and replies', () => {
  it('encodes one line and parses replies strictly', () => {
    const line = encodeFrame({ ok: false, error: 'a\nb' });
    assert.equal(line, '{"ok":false,"error":"a\\nb"}\n');
    assert.deepEqual(parseReply(line.trim()), { ok: false, error: 'a\nb' });
    assert.deepEqual(parseReply('{"ok":true,"id":1,"result":{"pid":5}}'), { ok: true, id: 1, result: { pid: 5 } });
    assert.equal(parseReply('{"ok":"yes"}'), null);
    assert.equal(parseReply('{"ok":false}'), null);
    assert.equal(parseReply('nope'), null);
  });
});

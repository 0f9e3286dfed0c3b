/**
 * JSON Lines output that survives hostile strings (process names and command lines are chosen by
 * whoever started the process). One record is one line: JSON.stringify escapes quotes, backslashes
 * and every control character below U+0020; this module adds the rest:
 *  - U+2028 / U+2029 (line separators to JavaScript and to some log viewers) and DEL + C1 controls
 *    (U+007F-U+009F: U+009B is a one-byte CSI on some terminals) become \uXXXX escapes;
 *  - lone UTF-16 surrogates become U+FFFD, so the line is well-formed UTF-8 and every consumer
 *    (Go, Java, Python, Chronicle) decodes the same text.
 * Long fields are capped by the formatters (see FIELD_LIMITS in udm.ts), not here.
 */

const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const UNSAFE_IN_LINE_RE = /[\u007f-\u009f\u2028\u2029]/g;

/** Replaces unpaired UTF-16 surrogates with U+FFFD (what String#toWellFormed does in ES2024). */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE_RE, '\uFFFD');
}

/**
 * The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, never splitting a code
 * point. Returns the text itself when it fits. Expects well-formed text (see wellFormed).
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Fast path: every UTF-16 unit is at most 3 UTF-8 bytes.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  while (end < text.length) {
    const cp = text.codePointAt(end) as number;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += cp >= 0x10000 ? 2 : 1;
  }
  return text.slice(0, end);
}

/**
 * One JSON line, without the trailing newline. Throws a TypeError for values JSON cannot carry
 * (undefined, a function, a symbol) and whatever JSON.stringify throws (BigInt, cycles).
 */
export function toJsonLine(value: unknown): string {
  const text: string | undefined = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? wellFormed(v) : v));
  if (text === undefined) throw new TypeError(`toJsonLine: a ${typeof value} is not JSON`);
  // These characters can only occur inside JSON strings (structure is ASCII), so escaping them is safe.
  return text.replace(UNSAFE_IN_LINE_RE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

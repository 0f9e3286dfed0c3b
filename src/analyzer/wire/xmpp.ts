/**
 * XMPP stream opening (RFC 6120 4.2): `<?xml ...?>` optional, then `<stream:stream ...>` (or a
 * default-namespace `<stream ...>`) with the jabber/etherx namespaces; the `to` domain names the
 * server the client asked for. <message> stanzas in the captured text are counted as publications.
 */
import type { WireCollector } from './features';
import type { SparseStream } from './stream';
import type { WireInfo } from './types';

const STREAM_RE = /<(?:[A-Za-z0-9_-]+:)?stream\b[^>]*>/;

export function looksLikeXmpp(head: Buffer): boolean {
  const text = head.toString('utf8', 0, 1024).replace(/^\uFEFF/, '').trimStart();
  if (!text.startsWith('<?xml') && !text.startsWith('<stream')) return false;
  return /etherx\.jabber\.org\/streams|jabber:(client|server)/.test(text) || /^(<\?xml[^>]*>\s*)?<stream:stream\b/.test(text);
}

function attribute(tag: string, name: string): string | null {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:'([^']*)'|"([^"]*)")`).exec(tag);
  return m ? (m[1] ?? m[2] ?? '') : null;
}

export function parseXmpp(s: SparseStream, info: WireInfo, c: WireCollector): void {
  const text = s.readKnown(0, 64 * 1024).toString('utf8');
  const tag = STREAM_RE.exec(text);
  if (!tag) { c.cut.add('bytes'); return; }
  const version = attribute(tag[0], 'version');
  if (version) info.version = c.name(version);
  const to = attribute(tag[0], 'to');
  if (to) info.serverName = c.name(to);
  const from = attribute(tag[0], 'from');
  if (from && from.includes('@')) info.username = c.name(from.split('@')[0]!);
  for (const m of text.matchAll(/<message\b[^>]*>/g)) {
    if (!c.nextMessage()) break;
    const toJid = attribute(m[0], 'to');
    if (toJid) c.add('topics', toJid);
    c.publish(s.timeAt(Buffer.byteLength(text.slice(0, m.index), 'utf8')), null, null);
  }
  if (s.hasHoles) c.cut.add('bytes');
}

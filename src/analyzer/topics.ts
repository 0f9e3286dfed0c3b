import type { ProcessInfo, WireInfo } from '../core/types';
import { baseName } from './processes';

/** mosquitto_pub / mosquitto_sub / mosquitto_rr, whose options we can read (Linux, macOS, Windows). */
const MQTT_CLI_RE = /^mosquitto_(pub|sub|rr)(\.exe)?$/i;

export interface MqttCliIntent {
  topics: string[];
  /** -m message, when given on the command line. */
  message?: string;
  /** How the payload arrives when not with -m: stdin lines (-l), whole stdin (-s), a file (-f). */
  payloadSource?: 'stdin-lines' | 'stdin' | 'file' | 'null';
}

/** Reads topics and message from an MQTT CLI client's argv; null for any other program. */
export function readMqttCliIntent(proc: ProcessInfo | undefined): MqttCliIntent | null {
  if (!proc?.argv || proc.argv.length === 0) return null;
  const exeName = proc.exe !== undefined ? baseName(proc.exe) : baseName(proc.argv[0] as string);
  if (!MQTT_CLI_RE.test(exeName) && !MQTT_CLI_RE.test(proc.name ?? '')) return null;
  const intent: MqttCliIntent = { topics: [] };
  const args = proc.argv.slice(1);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const next = args[i + 1];
    if ((a === '-t' || a === '--topic') && next !== undefined) { intent.topics.push(next); i++; }
    else if ((a === '-m' || a === '--message') && next !== undefined) { intent.message = next; i++; }
    else if (a === '-f' || a === '--file') { intent.payloadSource = 'file'; i++; }
    else if (a === '-l' || a === '--stdin-line') intent.payloadSource = 'stdin-lines';
    else if (a === '-s' || a === '--stdin-file') intent.payloadSource = 'stdin';
    else if (a === '-n' || a === '--null-message') intent.payloadSource = 'null';
    else if ((a === '-L' || a === '--url') && next !== undefined) {
      // mqtt(s)://[user[:pass]@]host[:port]/topic
      const m = /^mqtts?:\/\/[^/]*\/(.+)$/.exec(next);
      if (m) intent.topics.push(m[1] as string);
      i++;
    }
  }
  return intent;
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(text: string): number {
  if (text.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  const n = [...text].length;
  for (const c of counts.values()) {
    const p = c / n;
    h -= p * Math.log2(p);
  }
  return h;
}

export interface TopicAnomalySettings {
  topicPatterns: RegExp[];
  entropyThreshold: number;
  minEntropyLength: number;
  payloadLengthThreshold: number;
}

export interface TopicAnomaly {
  score: number;
  indicators: string[];
}

function highEntropy(text: string, s: TopicAnomalySettings): boolean {
  return [...text].length >= s.minEntropyLength && shannonEntropy(text) >= s.entropyThreshold;
}

/** TopicAnomalyScore + PayloadLengthThreshold over what the command line reveals. One point per indicator. */
export function scoreTopicAnomaly(intent: MqttCliIntent, s: TopicAnomalySettings): TopicAnomaly {
  const indicators = scoreTopics(intent.topics, s);
  if (intent.message !== undefined) {
    const bytes = Buffer.byteLength(intent.message, 'utf8');
    if (bytes > s.payloadLengthThreshold) indicators.push(`message of ${bytes} bytes exceeds payloadLengthThreshold ${s.payloadLengthThreshold}`);
    if (highEntropy(intent.message, s)) indicators.push(`message looks encoded or encrypted (entropy ${shannonEntropy(intent.message).toFixed(2)} bits/char)`);
  }
  return { score: indicators.length, indicators };
}

/** Indicators from topic names: a C2-flavoured pattern, a random-looking segment (MQTT "/", AMQP/STOMP "." too). */
function scoreTopics(topics: readonly string[], s: TopicAnomalySettings): string[] {
  const indicators: string[] = [];
  for (const topic of topics) {
    const pattern = s.topicPatterns.find((re) => re.test(topic));
    if (pattern) indicators.push(`topic ${JSON.stringify(topic)} matches ${pattern.source}`);
    const segment = topic.split(/[/.]/).find((seg) => highEntropy(seg, s));
    if (segment !== undefined) indicators.push(`topic segment ${JSON.stringify(segment.slice(0, 64))} looks random or encoded (entropy ${shannonEntropy(segment).toFixed(2)} bits/char)`);
  }
  return indicators;
}

/**
 * TopicAnomalyScore + PayloadLengthThreshold over what the wire showed: the topics and
 * subscriptions of any client, the largest payload, and the payloads' byte entropy (bits per byte;
 * base64 of random bytes measures about 5-6 over a few dozen bytes, text about 4).
 */
export function scoreWireAnomaly(wire: WireInfo, s: TopicAnomalySettings): TopicAnomaly {
  const indicators = scoreTopics([...(wire.topics ?? []), ...(wire.subscriptions ?? [])], s);
  const p = wire.payload;
  if (p && p.maxBytes > s.payloadLengthThreshold) indicators.push(`a publication of ${p.maxBytes} bytes exceeds payloadLengthThreshold ${s.payloadLengthThreshold}`);
  if (p?.meanEntropy != null && p.meanBytes >= s.minEntropyLength && p.meanEntropy >= s.entropyThreshold) {
    indicators.push(`payloads look encoded or encrypted (mean entropy ${p.meanEntropy.toFixed(2)} bits/byte over ${p.count} publications)`);
  }
  return { score: indicators.length, indicators };
}

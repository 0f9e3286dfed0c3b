import path from 'node:path';
import { type ReplayOptions, type ReplayRecord } from '../../../platform/replay/read';
import { ReplaySource } from '../../../platform/replay/source';

export const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'replay');

export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

/** Reads the files through a ReplaySource and returns the records with the source (for stats and warnings). */
export async function replay(files: string[], opts: ReplayOptions = {}): Promise<{ records: ReplayRecord[]; source: ReplaySource }> {
  const source = new ReplaySource(files, opts);
  const records: ReplayRecord[] = [];
  for await (const r of source.records()) records.push(r);
  return { records, source };
}

/**
 * Start-up of a spool folder: which segment files are there, which of them can be read, and where
 * delivery starts. Two rules: nothing is deleted on the word of state.json alone (a state.json that
 * points past or between the segments only means records are sent again), and anything under a
 * segment's name that is not a regular file (a FIFO, a device, a link, a folder) is skipped with a
 * warning - opened, if at all, with O_NONBLOCK|O_NOFOLLOW, so a FIFO cannot hang start-up.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { FLAGS, openSafe } from '../../core/safe-fs';
import { type Lane, type Position, SEGMENT_RE } from './files';

export interface FolderScan {
  found: Record<Lane, number[]>;
  /** The highest sequence number under any segment name, skipped ones included (new segments go past it). */
  maxSeq: number;
}

function kindOf(d: { isFIFO(): boolean; isSymbolicLink(): boolean; isDirectory(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (d.isFIFO()) return 'FIFO';
  if (d.isSymbolicLink()) return 'symbolic link';
  if (d.isDirectory()) return 'folder';
  if (d.isCharacterDevice() || d.isBlockDevice()) return 'device';
  if (d.isSocket()) return 'socket';
  return 'special file';
}

/** The segment files in the folder, ascending per lane; odd files are left alone and warned about. */
export async function scanSpoolFolder(folder: string, warn: (m: string) => void): Promise<FolderScan> {
  const found: Record<Lane, number[]> = { finding: [], telemetry: [] };
  let maxSeq = 0;
  for (const d of await fsp.readdir(folder, { withFileTypes: true })) {
    const m = SEGMENT_RE.exec(d.name);
    if (!m) continue;
    const seq = Number(m[2]);
    maxSeq = Math.max(maxSeq, seq);
    if (!d.isFile()) {
      warn(`spool ${folder}: skipped ${d.name}: it is a ${kindOf(d)}, not a segment file (left as it is; remove it)`);
      continue;
    }
    found[m[1] as Lane].push(seq);
  }
  for (const lane of Object.values(found)) lane.sort((a, b) => a - b);
  return { found, maxSeq };
}

/** A segment's bytes, or null (with a warning) when it turned out not to be a regular file of ours. */
export async function readSegmentFile(folder: string, name: string, warn: (m: string) => void): Promise<Buffer | null> {
  let fh;
  try {
    fh = await openSafe(path.join(folder, name), FLAGS.readExisting, 0o600, 'a spool segment');
  } catch (err) {
    warn(`spool ${folder}: skipped ${name}: ${(err as Error).message}`);
    return null;
  }
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * Where delivery of a lane starts, from the saved position and the segments on disk. The saved
 * position is used only when it names a segment that is there and no older segment is left;
 * otherwise delivery starts at the oldest segment and `distrust` says why (for the log). A saved
 * segment older than every one on disk is normal (deleted after it was saved): start at the oldest.
 */
export function chooseStart(seqs: readonly number[], saved: Position | undefined): { committed: Position; distrust: string | null } {
  const first = seqs[0];
  if (first === undefined) return { committed: { seq: 0, offset: 0 }, distrust: null };
  if (!saved || saved.seq < first) return { committed: { seq: first, offset: 0 }, distrust: null };
  if (saved.seq === first) return { committed: saved, distrust: null };
  const where = `segment ${saved.seq} offset ${saved.offset}`;
  const on = `segments ${first}..${seqs.at(-1)} are on disk`;
  return {
    committed: { seq: first, offset: 0 },
    distrust: seqs.includes(saved.seq) ? `state.json says delivery reached ${where}, but older ${on}` : `state.json says delivery reached ${where}, which is not on disk; ${on}`,
  };
}

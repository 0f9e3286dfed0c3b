import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../config/embedded';
import { writeFileAtomicSync } from '../core/safe-fs';

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIO: CliIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

export const EXIT = { ok: 0, findings: 1, error: 2 } as const;

export function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0-unknown';
  }
}

/**
 * Writes a file whole or not at all, so a reader never sees half a report: a random temp name in
 * the checked target folder, no links followed, then rename (src/core/safe-fs.ts).
 */
export function writeFileAtomic(file: string, text: string): void {
  writeFileAtomicSync(file, text, 0o640, 'the report (--output)');
}

import fs from 'node:fs';
import { writeFileAtomicSync } from '../core/safe-fs';

export { version } from '../config/embedded';

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIO: CliIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

export const EXIT = { ok: 0, findings: 1, error: 2 } as const;


/**
 * Writes a file whole or not at all, so a reader never sees half a report: a random temp name in
 * the checked target folder, no links followed, then rename (src/core/safe-fs.ts).
 */
export function writeFileAtomic(file: string, text: string): void {
  writeFileAtomicSync(file, text, 0o640, 'the report (--output)');
}

import fs from 'node:fs';
import path from 'node:path';
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


/** Writes a file whole or not at all (temp file + rename), so a reader never sees half a report. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text, { mode: 0o640 });
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

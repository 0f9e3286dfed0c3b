/**
 * The `control` config block. Kept out of src/config/schema.ts so that file can import it without
 * an import cycle; config/default.yaml documents the key.
 */
import { z } from 'zod';

export const controlSchema = z.strictObject({
  /** The control socket; null means the platform default (resolveControlPath in ./paths). */
  socket: z.string().min(1).refine((p) => !p.includes('\u0000'), { error: 'a socket path cannot contain a NUL character' }).nullable(),
});

export type ControlSettings = z.output<typeof controlSchema>;

import { z } from 'zod';
import type { Sink } from '../core/sink';
import { FileSink } from './file';
import { StdoutSink } from './stdout';

export { FileSink, FileSinkError } from './file';
export { MemorySink } from './memory';
export { StdoutSink } from './stdout';

/**
 * One entry of the `sinks` list in the config. Strict like the rest of the schema: an unknown key
 * is an error that names its path. `path` is used as given (a relative path is relative to the
 * agent's working directory, which for a service is usually /).
 */
export const sinkSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('stdout') }),
  z.strictObject({
    type: z.literal('file'),
    path: z.string().min(1).refine((p) => !p.includes('\u0000'), { error: 'a file path cannot contain a NUL character' }),
    fsync: z.boolean().optional(),
  }),
]);

/** The whole `sinks` list. */
export const sinkListSchema = z.array(sinkSpecSchema);

export type SinkSpec = z.output<typeof sinkSpecSchema>;

export interface SinkOptions {
  /** Where sinks report repairs and other non-fatal trouble (the agent's logger). */
  log?: { warn(message: string): unknown };
}

export function createSink(spec: SinkSpec, options: SinkOptions = {}): Sink {
  switch (spec.type) {
    case 'stdout':
      return new StdoutSink(process.stdout);
    case 'file':
      return new FileSink({ path: spec.path, fsync: spec.fsync ?? false, onWarning: (m) => options.log?.warn(m) });
  }
}

export function createSinks(specs: readonly SinkSpec[], options: SinkOptions = {}): Sink[] {
  return specs.map((s) => createSink(s, options));
}

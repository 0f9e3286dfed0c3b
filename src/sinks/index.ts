import path from 'node:path';
import { z } from 'zod';
import type { Sink } from '../core/sink';
import type { Logger } from '../service/log';
import { ChronicleApiSink, chronicleApiSinkSchema } from './chronicle-api';
import { FileSink } from './file';
import { ForwarderSink, forwarderSinkSchema } from './forwarder';
import { spoolSchema } from './spool-config';
import { SpooledSink } from './spooled-sink';
import { StdoutSink } from './stdout';

export { FileSink, FileSinkError } from './file';
export { MemorySink } from './memory';
export { StdoutSink } from './stdout';

/**
 * Which record format a sink receives. The Chronicle API takes UDM only. sysmon: Sysmon Event ID 3
 * records in NXLog's JSON shape, for the WINDOWS_SYSMON parser (src/format/sysmon.ts).
 */
const format = z.enum(['udm', 'ocsf', 'sysmon']);

/**
 * The spool in front of a network sink. `path` defaults to <stateDir>/spool/<type>-<n>; `false`
 * turns the spool off (then records written while the collector is unreachable are lost).
 */
const spoolBlock = z.union([z.literal(false), spoolSchema.extend({ path: z.string().min(1).optional() })]);

/**
 * One entry of the `sinks` list in the config. Strict like the rest of the schema: an unknown key
 * is an error that names its path. `path` is used as given (a relative path is relative to the
 * agent's working directory, which for a service is usually /).
 */
export const sinkSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('stdout'), format: format.default('udm') }),
  z.strictObject({
    type: z.literal('file'),
    path: z.string().min(1).refine((p) => !p.includes('\u0000'), { error: 'a file path cannot contain a NUL character' }),
    fsync: z.boolean().optional(),
    format: format.default('udm'),
  }),
  forwarderSinkSchema.extend({ spool: spoolBlock.optional() }),
  chronicleApiSinkSchema.extend({ spool: spoolBlock.optional() }),
]);

/** The whole `sinks` list. */
export const sinkListSchema = z.array(sinkSpecSchema);

export type SinkSpec = z.output<typeof sinkSpecSchema>;
export type RecordFormat = z.output<typeof format>;

export interface SinkOptions {
  /** Where sinks report repairs, drops and other non-fatal trouble (the agent's logger). */
  log: Logger;
  /** Default home of spools: <stateDir>/spool/<type>-<n>. */
  stateDir: string;
  hostname?: string;
}

/** A sink and the record format it wants. */
export interface Output {
  sink: Sink;
  format: RecordFormat;
  /** Present for spooled sinks, for `status`. */
  spool?: SpooledSink;
}

async function spooled(spec: { type: string; spool?: z.output<typeof spoolBlock> | undefined }, index: number, inner: Sink, options: SinkOptions): Promise<{ sink: Sink; spool?: SpooledSink }> {
  if (spec.spool === false) {
    options.log.warn(`sink ${inner.name}: spool turned off - records sent while it is unreachable are lost`);
    return { sink: inner };
  }
  const defaultPath = path.join(options.stateDir, 'spool', `${spec.type}-${index}`);
  // A given block was parsed with the config (durations are already milliseconds): parse it not again.
  const config = spec.spool ? { ...spec.spool, path: spec.spool.path ?? defaultPath } : spoolSchema.parse({ path: defaultPath });
  const spool = await SpooledSink.open(config, inner, { log: options.log });
  return { sink: spool, spool };
}

export async function createOutput(spec: SinkSpec, index: number, options: SinkOptions): Promise<Output> {
  switch (spec.type) {
    case 'stdout':
      return { sink: new StdoutSink(process.stdout), format: spec.format };
    case 'file':
      return { sink: new FileSink({ path: spec.path, fsync: spec.fsync ?? false, onWarning: (m) => options.log.warn(m) }), format: spec.format };
    case 'forwarder': {
      const { spool: _spool, ...cfg } = spec;
      const inner = new ForwarderSink(cfg, { log: options.log, ...(options.hostname ? { hostname: options.hostname } : {}) });
      return { ...(await spooled(spec, index, inner, options)), format: spec.format };
    }
    case 'chronicle-api': {
      const { type: _t, spool: _spool, ...cfg } = spec;
      const inner = new ChronicleApiSink(cfg, { onWarning: (m) => options.log.warn(m) });
      return { ...(await spooled(spec, index, inner, options)), format: 'udm' };
    }
  }
}

/** Builds every configured sink; on a failure the ones already open are closed again. */
export async function createOutputs(specs: readonly SinkSpec[], options: SinkOptions): Promise<Output[]> {
  const outputs: Output[] = [];
  try {
    for (const [i, spec] of specs.entries()) outputs.push(await createOutput(spec, i, options));
  } catch (err) {
    await Promise.allSettled(outputs.map((o) => o.sink.close()));
    throw err;
  }
  return outputs;
}

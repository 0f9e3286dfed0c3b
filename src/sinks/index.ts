import path from 'node:path';
import { z } from 'zod';
import type { Sink } from '../core/sink';
import type { Logger } from '../core/logger';
import { ChronicleApiSink } from './chronicle/chronicle-api';
import { FileSink } from './file';
import { ForwarderSink } from './forwarder/forwarder';
import { type RecordFormat, type SinkSpec, type spoolBlock } from '../config/sinks';
import { spoolSchema } from '../config/spool';
import { SpooledSink } from './spool/spooled-sink';
import { StdoutSink } from './stdout';

export { FileSink, FileSinkError } from './file';
export { MemorySink } from './memory';
export { StdoutSink } from './stdout';

export { sinkListSchema, sinkSpecSchema, type RecordFormat, type SinkSpec } from '../config/sinks';

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

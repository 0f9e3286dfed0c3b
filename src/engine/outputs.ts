/**
 * Sink changes on reload: the outputs of changed or added sinks are opened while the running ones
 * still write; the daemon swaps the list between two writes, then flushes and closes the ones that
 * left. A change that cannot be made live (a new spool would take the folder a running spool
 * holds, locked) is not made: the reload reply says it needs a restart.
 */
import path from 'node:path';
import type { SinkSpec } from '../config/sinks';
import type { Logger } from '../core/logger';
import type { Output } from '../sinks';

/** Opens one output for a sink spec (createOutput with the agent's options; stateDir from the new config). */
export type OpenOutput = (spec: SinkSpec, index: number, stateDir: string) => Promise<Output>;

export interface RunningOutputs {
  specs: readonly SinkSpec[];
  outputs: readonly Output[];
  stateDir: string;
}

export interface OutputSwap {
  /** The new list, in the order of the new specs. */
  outputs: Output[];
  /** Outputs opened for this reload (closed again if the reload is refused). */
  opened: Output[];
  /** Running outputs that leave: flushed and closed after the swap. */
  retired: Output[];
}

/** The spool folder a sink uses (see createOutput), or null for a sink without one. */
export function spoolFolder(spec: SinkSpec, index: number, stateDir: string): string | null {
  if (spec.type !== 'forwarder' && spec.type !== 'chronicle-api') return null;
  if (spec.spool === false) return null;
  return path.resolve(spec.spool?.path ?? path.join(stateDir, 'spool', `${spec.type}-${index}`));
}

const same = (a: SinkSpec | undefined, b: SinkSpec): boolean => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

/**
 * Opens what the new specs need; a spec unchanged at the same place keeps its running output.
 * Returns { restart: why } when the change cannot be made live; throws (after closing what it
 * opened) when a new output cannot open, with the sink named.
 */
export async function openChangedOutputs(running: RunningOutputs, specs: readonly SinkSpec[], stateDir: string, open: OpenOutput): Promise<OutputSwap | { restart: string }> {
  const kept = new Set<number>();
  specs.forEach((spec, i) => { if (stateDir === running.stateDir && same(running.specs[i], spec) && running.outputs[i]) kept.add(i); });
  const held = new Set(running.specs.map((s, i) => spoolFolder(s, i, running.stateDir)).filter((f): f is string => f !== null));
  for (const [i, spec] of specs.entries()) {
    const folder = kept.has(i) ? null : spoolFolder(spec, i, stateDir);
    if (folder !== null && held.has(folder)) {
      return { restart: `sink ${i} (${spec.type}) would take the spool folder ${folder}, which a running sink holds` };
    }
  }
  const outputs: Output[] = [];
  const opened: Output[] = [];
  for (const [i, spec] of specs.entries()) {
    if (kept.has(i)) {
      outputs.push(running.outputs[i] as Output);
      continue;
    }
    try {
      const o = await open(spec, i, stateDir);
      opened.push(o);
      outputs.push(o);
      // A sink that can open now (the file sink) does, so EACCES refuses the reload instead of failing writes later.
      const early = o.sink as { open?: () => Promise<void> };
      if (typeof early.open === 'function') await early.open();
    } catch (err) {
      await Promise.allSettled(opened.map((o) => o.sink.close()));
      throw new Error(`sink ${i} (${spec.type}) could not open: ${(err as Error).message}`);
    }
  }
  const retired = running.outputs.filter((o) => !outputs.includes(o));
  return { outputs, opened, retired };
}

/** Flushes and closes outputs; a failure is logged with the sink's name, never thrown. */
export async function closeOutputs(outputs: readonly Output[], log: Pick<Logger, 'error'>): Promise<void> {
  await Promise.all(outputs.map(async ({ sink }) => {
    try {
      await sink.flush();
      await sink.close();
    } catch (err) {
      log.error(`sink ${sink.name} did not flush: ${(err as Error).message}`);
    }
  }));
}

import type { ConnectionEvent, Snapshot } from './types';

/**
 * Produces connection events. close() is called once; no events are emitted after it resolves.
 * A one-shot scan calls snapshot(); the daemon calls start().
 */
export interface Source {
  name: string;
  start(emit: (e: ConnectionEvent) => void): Promise<void>;
  snapshot?(): Promise<Snapshot>;
  close(): Promise<void>;
}

/** Thrown by an adapter that cannot run on this host; the message is one clear line for the user. */
export class AdapterUnavailableError extends Error {
  constructor(public readonly adapter: string, reason: string) {
    super(`${adapter} adapter unavailable: ${reason}`);
    this.name = 'AdapterUnavailableError';
  }
}

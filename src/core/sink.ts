/** A formatted record ready for a sink: one JSON-serialisable object per event or finding. */
export type OutRecord = Record<string, unknown>;

/** Receives formatted records. write() may be called again before a previous write settled. */
export interface Sink {
  name: string;
  write(records: OutRecord[]): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

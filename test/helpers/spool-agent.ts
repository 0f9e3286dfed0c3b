// A minimal agent for the kill -9 tests: a ForwarderSink behind a SpooledSink, as the daemon
// builds them. Run: node --import tsx test/helpers/spool-agent.ts '<json>' where json is
//   { "forwarder": {...forwarder sink config}, "spool": {...spool config},
//     "mode": "write" | "drain", "count": N, "prefix": "id-prefix" }
// write: spools `count` records, prints "SPOOLED <n>" and keeps running (delivering) until killed.
// drain: prints "DRAINED <stats json>" once the spool is empty, closes cleanly and exits 0.
import { ForwarderSink, forwarderSinkSchema } from '../../src/sinks/forwarder/forwarder';
import { SpooledSink, spoolSchema } from '../../src/sinks/spool/spool';

interface AgentArgs {
  forwarder: unknown;
  spool: unknown;
  mode: 'write' | 'drain';
  count?: number;
  prefix?: string;
}

const line = (level: string) => (message: unknown) => {
  process.stderr.write(`${level} ${String(message)}\n`);
  return undefined as never;
};
const log = { error: line('error'), warn: line('warn'), info: line('info'), debug: line('debug') } as never;

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as AgentArgs;
  const forwarder = new ForwarderSink(forwarderSinkSchema.parse(args.forwarder), { log });
  const sink = await SpooledSink.open(spoolSchema.parse(args.spool), forwarder, { log });
  if (args.mode === 'write') {
    const records = Array.from({ length: args.count ?? 0 }, (_, i) => ({
      metadata: { product_log_id: `${args.prefix ?? 'r'}-${i}`, event_type: 'NETWORK_CONNECTION' },
      principal: { process: { pid: String(process.pid), command_line: `agent record ${i}` } },
    }));
    for (let i = 0; i < records.length; i += 10) await sink.write(records.slice(i, i + 10));
    process.stdout.write(`SPOOLED ${records.length}\n`);
    setInterval(() => undefined, 60_000); // stay up, delivering, until killed
    return;
  }
  const deadline = Date.now() + 30_000;
  while (sink.stats().pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  process.stdout.write(`DRAINED ${JSON.stringify(sink.stats())}\n`);
  await sink.close();
}

main().catch((err: Error) => {
  process.stderr.write(`spool-agent: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

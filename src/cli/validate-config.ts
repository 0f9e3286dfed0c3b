import { compileRules } from '../analyzer/rules';
import { ConfigError } from '../config/errors';
import { loadConfig } from '../config/load';
import { parseCommandArgs } from './args';
import { type CliIO, EXIT } from './common';

export const VALIDATE_HELP = `Usage: brokerwatch validate-config [--config FILE]... [--json] [--print]

Loads the embedded default configuration, merges each --config file over it and checks the
result: unknown keys, wrong types, bad CIDR blocks, IP addresses and host names, bad regular
expressions and durations are reported with the file and the key path.

Options:
  --config FILE   a YAML file to check (repeatable; later files win)
  --json          print {"valid": true|false, "problems": [...], "files": [...]}
  --print         also print the effective configuration: every setting after the merge, as the
                  agent uses it (durations in milliseconds, sizes in bytes); with --json it is
                  the "config" member
  -h, --help      show this help

Exit codes: 0 valid, 2 invalid (or unreadable).
`;

export async function validateConfigCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    config: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    print: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(VALIDATE_HELP);
    return EXIT.ok;
  }
  let loaded;
  try {
    loaded = loadConfig(values.config ?? []);
  } catch (err) {
    // Without --json the error goes to main, which prints it to stderr and exits 2.
    if (!(err instanceof ConfigError) || !values.json) throw err;
    io.stdout(`${JSON.stringify({ valid: false, problems: err.problems, files: values.config ?? [] })}\n`);
    return EXIT.error;
  }
  const { config, files, notices } = loaded;
  // Compiling builds every regex and CIDR exactly as the agent will.
  compileRules(config, { platform: 'linux' });
  compileRules(config, { platform: 'win32' });
  compileRules(config, { platform: 'darwin' });
  if (values.json) io.stdout(`${JSON.stringify({ valid: true, problems: [], notices, files, ...(values.print ? { config } : {}) })}\n`);
  else io.stdout(`config OK: ${files.join(' + ')}\n${notices.map((n) => `  note: ${n}\n`).join('')}${values.print ? `${JSON.stringify(config, null, 2)}\n` : ''}`);
  return EXIT.ok;
}

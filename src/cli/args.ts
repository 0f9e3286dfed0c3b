import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command-line mistake: the CLI prints the message and the command's usage line, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs in strict mode, with its errors turned into one-line UsageErrors. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0] ?? String(err);
    throw new UsageError(msg.replace(/\. To specify a positional argument.*$/, ''));
  }
}

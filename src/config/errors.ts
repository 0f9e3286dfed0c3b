/** A configuration problem. Each message names the file and the key path; the CLI exits 2. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

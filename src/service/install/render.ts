/**
 * Filling the installer templates: every @NAME@ word is replaced by a value escaped for the file's
 * own syntax, so a path with spaces, quotes, % or $ stays one argument and cannot inject settings.
 */

/** Control characters end a line in a unit file and are not allowed in XML 1.0: refused outright. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export class RenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RenderError';
  }
}

function refuseControl(value: string, what: string): void {
  if (CONTROL.test(value)) throw new RenderError(`${what} ${JSON.stringify(value)} contains a control character; choose another path`);
}

/**
 * An argument on a systemd command line (ExecStart= after the executable): double-quoted, with
 * backslash and quote escaped (systemd unquotes C-style), "%" doubled (specifiers) and "$" doubled
 * (environment variable expansion).
 */
export function systemdArg(value: string): string {
  refuseControl(value, 'a unit file value');
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/**
 * The executable of a systemd command line. systemd expands "%" specifiers in it but not "$"
 * variables, and refuses (fatally: "Executable name contains special characters") a name with a
 * quote or a backslash even when escaped - so those are refused here, naming the path to move.
 * Both rules checked with systemd-analyze verify (systemd 252).
 */
export function systemdExecutable(file: string): string {
  refuseControl(file, 'an executable path');
  if (/["'\\]/.test(file)) throw new RenderError(`systemd refuses an executable path containing a quote or a backslash: ${JSON.stringify(file)}; install node somewhere else`);
  if (!file.startsWith('/')) throw new RenderError(`the executable must be an absolute path, got ${JSON.stringify(file)}`);
  return `"${file.replace(/%/g, '%%')}"`;
}

/** A file: URI for Documentation= (percent-encoding would read as specifiers, so only plain paths). */
export function systemdFileUri(file: string): string {
  if (!/^\/[A-Za-z0-9/._+-]*$/.test(file)) throw new RenderError(`cannot put ${JSON.stringify(file)} in a Documentation= URI; use a plain path`);
  return `file:${file}`;
}

/** Text for an XML element (a plist <string>). */
export function xmlText(value: string): string {
  refuseControl(value, 'a property list value');
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** A scalar in the starter YAML config: single-quoted (the only escape is '' for '). */
export function yamlScalar(value: string): string {
  refuseControl(value, 'a config value');
  return `'${value.replace(/'/g, "''")}'`;
}

/** A word in a POSIX sh script: single-quoted, ' written as '\''. */
export function shWord(value: string): string {
  refuseControl(value, 'a script value');
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/** Text going into a comment: only control characters (a newline would end the comment) are refused. */
export function commentText(value: string): string {
  refuseControl(value, 'a value');
  return value;
}

/**
 * Replaces each @NAME@ in `template` with values[NAME], which the caller has escaped for the
 * file's syntax. A placeholder without a value is a bug in the installer, so it throws rather
 * than leave @NAME@ in a service file.
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z][A-Z0-9_]*)@/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new RenderError(`template placeholder @${name}@ has no value`);
    return v;
  });
}

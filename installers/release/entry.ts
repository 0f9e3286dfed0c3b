/** The release binary's main script (bundled with everything it imports into one file). */
import { main } from '../../src/cli/main';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});

// The brokerwatch CLI straight from the TypeScript sources, as bin/brokerwatch.js runs it from
// dist/: run with `node --import tsx test/helpers/brokerwatch-src.ts scan --json`. Tests use it so
// they check the code in the tree, not a dist/ build that may be stale or being rewritten.
import { main } from '../../src/cli/main';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});

#!/usr/bin/env node
// Entry point of the `icpy` command. `serve` loads the server; every other command loads only
// the light client (dist/transports/cli) so that `icpy cat` starts fast.
const argv = process.argv.slice(2);
if (argv[0] === 'serve') {
  const { serve } = await import('../dist/app/serve.js');
  await serve(argv.slice(1));
} else {
  const { main } = await import('../dist/transports/cli/main.js');
  process.exitCode = await main(argv);
}

/**
 * The `icpy` command (client side). `icpy serve` is routed to app/serve by bin/icpy.js so that
 * client commands never load the server's modules.
 */
const USAGE = `Usage: icpy <command> [options]

Commands:
  serve [DIR]          serve a workspace folder (see: icpy serve --help)
  help                 show this help
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  process.stderr.write(`icpy: unknown command '${cmd}'\n\n${USAGE}`);
  return 2;
}

import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI (`npm run build` first): tests run it as a user would, as a child process. */
export const ICPY_BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bin', 'icpy.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `icpy ARGS` with `env` in `cwd`, `input` on stdin; killed (and rejected) after `timeoutMs`. */
export function icpy(args: string[], env: NodeJS.ProcessEnv, cwd: string | undefined, input = '', timeoutMs = 15_000): Promise<CliResult> {
  const child = spawn(process.execPath, [ICPY_BIN, ...args], { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(input);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`icpy ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

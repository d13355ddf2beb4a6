// The streaming ceiling for bench/exec.mjs: a minimal process relay with none of icpy. A plain
// `ws` server (the package icpy uses, no permessage-deflate, like icpy); each text message is a
// request `{argv, cwd}`: spawn argv[0] with argv.slice(1) in cwd with this process's env (the
// bench forks it with the raw target's env), send every stdout chunk as one binary message, and
// after the child's 'close' a text message 'done'. Flow control (BENCH_RELAY_FLOW, default 1):
// stdout pauses while `ws.bufferedAmount` ≥ 1 MiB and resumes on the socket's 'drain'; with 0
// every chunk is sent at once, whatever is buffered.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { exitWithParent, send } from './ipc-child.mjs';

const HIGH_WATER = 1 << 20;
const FLOW = process.env.BENCH_RELAY_FLOW !== '0';

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: true });
const children = new Set();

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const { argv, cwd } = JSON.parse(data.toString());
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], cwd, env: process.env });
    children.add(child);
    const out = child.stdout;
    out.on('data', (chunk) => {
      ws.send(chunk, { binary: true });
      if (FLOW && ws.bufferedAmount >= HIGH_WATER) {
        out.pause();
        ws._socket.once('drain', () => out.resume());
      }
    });
    child.once('error', (err) => ws.send(`error ${err.message}`));
    child.once('close', (code) => {
      children.delete(child);
      ws.send(code === 0 ? 'done' : `error exit ${code}`);
    });
  });
});

exitWithParent(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => http.close(r));
});

http.listen(0, '127.0.0.1', () => {
  send({ type: 'ready', url: `ws://127.0.0.1:${http.address().port}`, pid: process.pid });
});

// Broker fan-out: events/s delivered by MemoryBroker (the built dist/, so run `npm run build`
// first) for 1, 100 and 1,000 subscribers, exact and wildcard patterns, against Node's
// EventEmitter doing the same fan-out in the same process and run.
//
// "Delivered" = handler invocations: publishes × subscribers. Every round runs the broker
// and the baseline back to back (alternating which goes first), and the median round is reported.
//
//   node bench/broker.mjs            (or: npm run bench, which runs every bench)
//   BENCH_ROUNDS=9 node bench/broker.mjs
import { EventEmitter } from 'node:events';
import { emit, median, round } from './lib/stats.mjs';

let MemoryBroker;
try {
  ({ MemoryBroker } = await import('../dist/core/broker/index.js'));
} catch (err) {
  process.stderr.write(`bench/broker: cannot load dist/core/broker (run \`npm run build\` first): ${err.message}\n`);
  process.exit(1);
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const WARMUP = 2;
/** Deliveries per round, so every case does the same amount of handler work. */
const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 2_000_000);
const TOPIC = 'bench.a.x';
const DATA = { path: 'src/index.ts', size: 1234, kind: 'file' };
/** Subscriber i's pattern in the wildcard case. */
const WILDCARDS = ['bench.*.x', 'bench.**'];

function brokerRound(n, wildcard, publishes) {
  const broker = new MemoryBroker();
  let delivered = 0;
  const handler = () => {
    delivered++;
  };
  for (let i = 0; i < n; i++) broker.subscribe([wildcard ? WILDCARDS[i % WILDCARDS.length] : TOPIC], handler);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < publishes; i++) broker.publish(TOPIC, DATA);
  const ns = Number(process.hrtime.bigint() - t0);
  broker.dispose();
  if (delivered !== publishes * n) throw new Error(`broker delivered ${delivered}, expected ${publishes * n}`);
  return (delivered / ns) * 1e9;
}

function emitterRound(n, publishes) {
  const ee = new EventEmitter();
  ee.setMaxListeners(0);
  let delivered = 0;
  const handler = () => {
    delivered++;
  };
  for (let i = 0; i < n; i++) ee.on(TOPIC, handler);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < publishes; i++) ee.emit(TOPIC, DATA);
  const ns = Number(process.hrtime.bigint() - t0);
  ee.removeAllListeners();
  if (delivered !== publishes * n) throw new Error(`emitter delivered ${delivered}, expected ${publishes * n}`);
  return (delivered / ns) * 1e9;
}

const cases = [];
for (const kind of ['exact', 'wildcard']) for (const n of [1, 100, 1000]) cases.push({ kind, n });

for (const { kind, n } of cases) {
  const publishes = Math.max(1, Math.round(DELIVERIES / n));
  const icpy = [];
  const base = [];
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    // Alternate the order so neither side always runs on a warmer/colder heap.
    let a, b;
    if (r % 2) {
      b = emitterRound(n, publishes);
      a = brokerRound(n, kind === 'wildcard', publishes);
    } else {
      a = brokerRound(n, kind === 'wildcard', publishes);
      b = emitterRound(n, publishes);
    }
    if (r >= WARMUP) {
      icpy.push(a);
      base.push(b);
    }
  }
  const icpyMed = median(icpy);
  const baseMed = median(base);
  const ratio = baseMed / icpyMed;
  const target = kind === 'exact' ? 5 : 10;
  emit({
    bench: 'broker',
    case: kind,
    subscribers: n,
    publishes_per_round: publishes,
    rounds: ROUNDS,
    icpy_events_per_s: Math.round(icpyMed),
    baseline: 'node:events EventEmitter',
    baseline_events_per_s: Math.round(baseMed),
    slowdown: round(ratio, 2),
    target_max_slowdown: target,
    ok: ratio <= target,
  });
}

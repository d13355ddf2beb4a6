import { describe, expect, it } from 'vitest';
import { MessageTurns } from './message-turns.js';

const nextIteration = () => new Promise((r) => setImmediate(r));

describe('MessageTurns', () => {
  it('starts at most perTurn messages per event-loop iteration, in order, and holds the socket while some wait', async () => {
    const holds: boolean[] = [];
    const turns = new MessageTurns(4, (waiting) => holds.push(waiting));
    const started: number[] = [];
    for (let i = 0; i < 10; i++) turns.run(() => started.push(i));
    expect(started).toEqual([0, 1, 2, 3]);
    expect(holds).toEqual([true]);
    await nextIteration();
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await nextIteration();
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(holds).toEqual([true, false]);
  });

  it('a message arriving while others wait queues behind them (no overtaking)', async () => {
    const turns = new MessageTurns(1, () => {});
    const started: string[] = [];
    turns.run(() => started.push('a'));
    turns.run(() => started.push('b'));
    await nextIteration();
    turns.run(() => started.push('c'));
    expect(started).toEqual(['a', 'b']);
    await nextIteration();
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('runs at once when the connection has not used its turn', async () => {
    const turns = new MessageTurns(2, () => {});
    let n = 0;
    turns.run(() => n++);
    turns.run(() => n++);
    expect(n).toBe(2);
    await nextIteration();
    turns.run(() => n++);
    expect(n).toBe(3);
  });
});

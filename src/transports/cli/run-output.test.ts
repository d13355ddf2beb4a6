import { describe, expect, it } from 'vitest';
import { exitStatus, RunOutput } from './run-output.js';

const b = (s: string) => Buffer.from(s);

describe('RunOutput', () => {
  it('passes new chunks through and drops exact repeats (attach backlog + live overlap)', () => {
    const o = new RunOutput();
    expect(o.take('stdout', 0, b('hello ')).toString()).toBe('hello ');
    expect(o.take('stdout', 6, b('world')).toString()).toBe('world');
    expect(o.take('stdout', 0, b('hello ')).length).toBe(0);
    expect(o.take('stdout', 6, b('world')).length).toBe(0);
    expect(o.bytes).toBe(11);
  });

  it('keeps only the unseen tail of a chunk that overlaps what was shown', () => {
    const o = new RunOutput();
    o.take('stdout', 0, b('abc'));
    expect(o.take('stdout', 1, b('bcdef')).toString()).toBe('def');
    expect(o.end).toBe(6);
  });

  it('works with offsets in one combined stream: stdout and stderr ranges interleave', () => {
    const o = new RunOutput();
    expect(o.take('stdout', 0, b('out1\n')).toString()).toBe('out1\n');
    expect(o.take('stderr', 5, b('err1\n')).toString()).toBe('err1\n');
    expect(o.take('stdout', 10, b('out2\n')).toString()).toBe('out2\n');
    // the backlog again, in order
    expect(o.take('stdout', 0, b('out1\n')).length).toBe(0);
    expect(o.take('stderr', 5, b('err1\n')).length).toBe(0);
    expect(o.take('stdout', 10, b('out2\n')).length).toBe(0);
    expect(o.end).toBe(15);
  });

  it('works with per-stream offsets too', () => {
    const o = new RunOutput();
    expect(o.take('stdout', 0, b('a')).toString()).toBe('a');
    expect(o.take('stderr', 0, b('x')).toString()).toBe('x');
    expect(o.take('stdout', 1, b('b')).toString()).toBe('b');
    expect(o.take('stderr', 0, b('x')).length).toBe(0);
  });
});

describe('exitStatus', () => {
  const signals = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  it('is the exit code, or 128 + the signal number (by number or by name)', () => {
    expect(exitStatus(0, null, signals)).toBe(0);
    expect(exitStatus(3, null, signals)).toBe(3);
    expect(exitStatus(null, 9, signals)).toBe(137);
    expect(exitStatus(null, 'SIGTERM', signals)).toBe(143);
    expect(exitStatus(null, null, signals)).toBe(1);
  });
});

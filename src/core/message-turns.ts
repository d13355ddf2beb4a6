/**
 * Fair turns between connections: one connection starts at most `perTurn` messages per event-loop
 * iteration; the rest wait for the next iterations, in order. A handler's synchronous work (an
 * `events.emit` fanning out to hundreds of subscribers) is what a message costs the loop, and a
 * client that pipelines dozens of them in one TCP read would otherwise run them all back to back
 * while every other connection (a health check, a keystroke) waits. While messages wait, the
 * socket is paused (`onBacklog(true)`), so a client sending faster than its turns is not read
 * and its backlog stays bounded by one TCP read.
 */
export class MessageTurns {
  private startedThisTurn = 0;
  private turnOpen = false;
  private readonly backlog: (() => void)[] = [];
  private draining = false;

  constructor(
    private readonly perTurn: number,
    private readonly onBacklog: (waiting: boolean) => void,
  ) {}

  run(fn: () => void): void {
    if (this.backlog.length === 0 && this.startedThisTurn < this.perTurn) {
      this.start(fn);
      return;
    }
    this.backlog.push(fn);
    if (this.backlog.length === 1) this.onBacklog(true);
    if (!this.draining) {
      this.draining = true;
      setImmediate(this.drain);
    }
  }

  private start(fn: () => void): void {
    this.startedThisTurn++;
    if (!this.turnOpen) {
      this.turnOpen = true;
      setImmediate(this.endTurn);
    }
    fn();
  }

  private readonly endTurn = (): void => {
    this.turnOpen = false;
    this.startedThisTurn = 0;
  };

  private readonly drain = (): void => {
    this.endTurn();
    while (this.backlog.length && this.startedThisTurn < this.perTurn) this.start(this.backlog.shift()!);
    if (this.backlog.length) setImmediate(this.drain);
    else {
      this.draining = false;
      this.onBacklog(false);
    }
  };

  dispose(): void {
    this.backlog.length = 0;
  }
}

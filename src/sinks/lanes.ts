/**
 * A sink's lanes: each has one write in flight and a queue behind it, so the writes of one lane
 * (one row's, as the router picks a lane per document) reach the target in the order they came.
 * A write without a lane (a snapshot's batch) goes to the lane with the least work.
 */
export class Lanes<W> {
  readonly #queues: W[][];
  readonly #busy: boolean[];

  constructor(count: number) {
    this.#queues = Array.from({ length: count }, () => []);
    this.#busy = new Array(count).fill(false);
  }

  /** Queues a write on `lane` (taken modulo the lane count), or on the least loaded lane. */
  push(write: W, lane?: number): void {
    const load = (i: number) => this.#queues[i].length + Number(this.#busy[i]);
    let chosen = 0;
    if (lane === undefined) {
      for (let i = 1; i < this.#queues.length; i++) if (load(i) < load(chosen)) chosen = i;
    } else chosen = lane % this.#queues.length;
    this.#queues[chosen].push(write);
  }

  /** Starts the next write of every idle lane that has one. */
  startIdle(start: (write: W, lane: number) => void): void {
    for (let lane = 0; lane < this.#queues.length; lane++) {
      if (this.#busy[lane] || this.#queues[lane].length === 0) continue;
      this.#busy[lane] = true;
      start(this.#queues[lane].shift()!, lane);
    }
  }

  /** The lane's write finished: its next may start. */
  settle(lane: number): void {
    this.#busy[lane] = false;
  }
}

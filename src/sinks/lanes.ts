/**
 * A sink's lanes: each has one write in flight and a queue behind it, so the writes of one lane
 * (one row's, as the router picks a lane per document) reach the target in the order they came.
 * A write without a lane (a snapshot's batch) goes to the lane with the least work.
 */
export class Lanes<W> {
  readonly #queues: W[][];
  readonly #busy: boolean[];
  /** Writes started and not yet settled, by write id: their lane and the write. */
  readonly #inFlight = new Map<number, { readonly lane: number; readonly write: W }>();
  #nextId = 0;

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

  /** Starts the next write of every idle lane that has one, under a write id for `settle`. */
  startIdle(start: (write: W, writeId: number) => void): void {
    for (let lane = 0; lane < this.#queues.length; lane++) {
      if (this.#busy[lane] || this.#queues[lane].length === 0) continue;
      this.#busy[lane] = true;
      const write = this.#queues[lane].shift()!;
      const writeId = this.#nextId++;
      this.#inFlight.set(writeId, { lane, write });
      start(write, writeId);
    }
  }

  /** The write finished: its lane's next may start. Returns the write (undefined for an unknown id). */
  settle(writeId: number): W | undefined {
    const started = this.#inFlight.get(writeId);
    if (!started) return undefined;
    this.#inFlight.delete(writeId);
    this.#busy[started.lane] = false;
    return started.write;
  }
}

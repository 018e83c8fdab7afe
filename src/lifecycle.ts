/**
 * Graceful stop: on SIGTERM the engine stops reading the slot, waits for what it already read
 * to reach every sink (acknowledging it to PostgreSQL), and exits. Actors that hold work in
 * flight register a drainer here; the command line calls `drain` with a deadline.
 */
export type Drainer = (deadline: number) => Promise<void>;

export class Lifecycle {
  readonly #drainers = new Set<Drainer>();

  register(drainer: Drainer): () => void {
    this.#drainers.add(drainer);
    return () => this.#drainers.delete(drainer);
  }

  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all([...this.#drainers].map((drain) => drain(deadline).catch(() => {})));
  }
}

/**
 * The resources one incarnation of an actor owns (connections, streams, timers). A restart or a
 * stop closes the scope: its signal aborts, so pending I/O ends, and its closers run in reverse.
 * Work that outlives its incarnation sees `closed` and keeps its results to itself.
 */
export class Scope {
  readonly #controller = new AbortController();
  #closers: (() => unknown)[] = [];
  #closing: Promise<void> | null = null;

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Registers a closer; on an already closed scope it runs at once. Returns the resource. */
  own<T>(resource: T, close: (resource: T) => unknown): T {
    if (this.closed) void Promise.resolve().then(() => close(resource)).catch(() => {});
    else this.#closers.push(() => close(resource));
    return resource;
  }

  close(reason: unknown = new Error("scope closed")): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#controller.abort(reason);
    const closers = this.#closers.reverse();
    this.#closers = [];
    this.#closing = (async () => {
      for (const close of closers) {
        try {
          await close();
        } catch {
          // A resource that fails to close is gone either way.
        }
      }
    })();
    return this.#closing;
  }
}

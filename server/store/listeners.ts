/**
 * The listener set behind a store's onAppend / onRoster: register, unregister, and
 * tell every listener. A store emits after the write is durable, so a listener that
 * throws must neither stop the others from hearing the hint nor fail the write.
 *
 * @example
 *   private readonly appended = new Listeners<AppendListener>();
 *   onAppend(l: AppendListener) { return this.appended.add(l); }
 *   // after the append is stored:
 *   this.appended.emit(order, message);
 */
export class Listeners<F extends (...args: never[]) => void> {
  private readonly set = new Set<F>();

  /** Register `listener`; returns the function that unregisters it (calling it twice is harmless). */
  add(listener: F): () => void {
    this.set.add(listener);
    return () => {
      this.set.delete(listener);
    };
  }

  /**
   * Call every listener with `args`. One that throws is skipped over: the others are
   * still called and emit itself never throws. (Hints are best-effort by contract:
   * a listener that misses one back-fills from the store.)
   */
  emit(...args: Parameters<F>): void {
    for (const l of this.set) {
      try {
        l(...args);
      } catch {
        // See above: the write is already durable and the other listeners must hear of it.
      }
    }
  }

  /** Unregister every listener (the store is closing). */
  clear(): void {
    this.set.clear();
  }

  get size(): number {
    return this.set.size;
  }
}

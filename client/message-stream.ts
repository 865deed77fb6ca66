/**
 * Async iteration over pushed values: each iterator created by iterator() gets
 * every value pushed after its creation, buffered until it is consumed, and ends
 * when the stream ends.
 */
export class MessageStream<T> {
  private readonly consumers = new Set<{ buffer: T[]; wake: (() => void) | undefined }>();
  private ended = false;

  push(value: T): void {
    for (const c of this.consumers) {
      c.buffer.push(value);
      c.wake?.();
    }
  }

  end(): void {
    this.ended = true;
    for (const c of this.consumers) c.wake?.();
  }

  iterator(): AsyncIterableIterator<T> {
    const consumer: { buffer: T[]; wake: (() => void) | undefined } = { buffer: [], wake: undefined };
    this.consumers.add(consumer);
    const done = (): IteratorResult<T> => {
      this.consumers.delete(consumer);
      return { done: true, value: undefined };
    };
    const it: AsyncIterableIterator<T> = {
      next: async () => {
        for (;;) {
          if (consumer.buffer.length > 0) return { done: false, value: consumer.buffer.shift()! };
          if (this.ended) return done();
          await new Promise<void>((resolve) => (consumer.wake = resolve));
          consumer.wake = undefined;
        }
      },
      return: async () => done(),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}

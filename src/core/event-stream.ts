/**
 * A typed, synchronous event stream: `emit` runs every listener in subscription order before it
 * returns, so a listener sees the event before the emitter goes on (e.g. before a plugin call is
 * answered). A listener that throws is reported to `onListenerError` and never stops the emitter or
 * the other listeners.
 */
export class EventStream<E> {
  private readonly listeners = new Set<(event: E) => void>();

  constructor(private readonly onListenerError: (err: unknown, event: E) => void = () => undefined) {}

  /** Adds a listener; the returned function removes it. */
  subscribe(listener: (event: E) => void): () => void {
    // A wrapper, so the same function subscribed twice is called twice and removed once each.
    const entry = (event: E) => listener(event);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(event: E): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }
}

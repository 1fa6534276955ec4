/**
 * Numbers live events and keeps the latest `capacity` of them, so that an SSE client that
 * reconnects with `Last-Event-ID` gets what it missed (if still buffered) and then the live
 * stream. Subscribers are called synchronously in order; a slow client is the stream's problem,
 * not the hub's.
 */
import type { ClusterEvent } from './schemas.js';
import type { ClusterEventInput, EventsSource } from './sources.js';

/** Options of {@link EventHub}. */
export interface EventHubOptions {
  /** Events kept for resumption. @defaultValue 1000 */
  readonly capacity?: number;
  /** Time source for `at` (ms since the epoch). @defaultValue Date.now */
  readonly now?: () => number;
}

/** The dashboard's event buffer and fan-out. */
export class EventHub {
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #buffer: ClusterEvent[] = [];
  readonly #listeners = new Set<(event: ClusterEvent) => void>();
  #nextId = 1;
  #unsubscribe: (() => void) | undefined;

  /** Creates an empty hub. */
  constructor(options: EventHubOptions = {}) {
    this.#capacity = Math.max(1, Math.floor(options.capacity ?? 1000));
    this.#now = options.now ?? Date.now;
  }

  /** Feeds the hub from `source` (once). */
  attach(source: EventsSource | undefined): void {
    if (source === undefined || this.#unsubscribe !== undefined) return;
    this.#unsubscribe = source.subscribe((event) => this.publish(event));
  }

  /** Stops listening to the source. */
  detach(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Numbers, buffers and fans out one event; returns it. */
  publish(input: ClusterEventInput): ClusterEvent {
    const event: ClusterEvent = {
      id: this.#nextId++,
      kind: input.kind,
      type: input.type,
      at: input.at ?? new Date(this.#now()).toISOString(),
      node: input.node,
      role: input.role,
      detail: input.detail,
    };
    this.#buffer.push(event);
    if (this.#buffer.length > this.#capacity) this.#buffer.shift();
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** Buffered events after `lastId` (all buffered ones for `undefined`), oldest first. */
  since(lastId: number | undefined): ClusterEvent[] {
    if (lastId === undefined) return [];
    return this.#buffer.filter((event) => event.id > lastId);
  }

  /** The id of the oldest buffered event (to tell a client it missed some). */
  get oldestId(): number | undefined {
    return this.#buffer[0]?.id;
  }

  /** Calls `listener` for every new event; returns the unsubscribe function. */
  listen(listener: (event: ClusterEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Live SSE connections. */
  get listeners(): number {
    return this.#listeners.size;
  }
}

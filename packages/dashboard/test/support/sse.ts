/**
 * A small Server-Sent Events client for the tests: `fetch` (a real HTTP connection) and a parser
 * of the `text/event-stream` body as the HTML spec reads it — `event:`, `id:`, `data:` fields,
 * comment lines (`:`) counted but not delivered, messages ended by a blank line, LF or CRLF.
 * Every read has a deadline, so a missing event fails the test instead of hanging it.
 */

/** One message. */
export interface SseMessage {
  /** The `event:` field (`message` when absent). */
  readonly event: string;
  /** The `id:` field, if the message has one. */
  readonly id: string | undefined;
  /** The `data:` lines joined with `\n`. */
  readonly data: string;
}

const TIMEOUT = Symbol('timeout');

/** An open event stream. */
export class SseStream {
  readonly response: Response;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #controller: AbortController;
  readonly #decoder = new TextDecoder();
  #buffer = '';
  #pending: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> | undefined;
  #done = false;
  /** Comment lines (keep-alives) seen so far. */
  comments = 0;

  private constructor(response: Response, controller: AbortController) {
    this.response = response;
    this.#controller = controller;
    const body = response.body;
    if (body === null) throw new Error('the event stream has no body');
    this.#reader = body.getReader();
  }

  /**
   * Opens `url` (status 200 and `text/event-stream` expected, else throws with the body).
   * `lastEventId` is sent as the `Last-Event-ID` header.
   */
  static async open(
    url: string,
    options: { lastEventId?: string; timeoutMs?: number } = {},
  ): Promise<SseStream> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 5_000);
    try {
      const response = await fetch(url, {
        headers: {
          accept: 'text/event-stream',
          ...(options.lastEventId !== undefined ? { 'last-event-id': options.lastEventId } : {}),
        },
        signal: controller.signal,
      });
      const type = response.headers.get('content-type') ?? '';
      if (response.status !== 200 || !type.startsWith('text/event-stream'))
        throw new Error(`GET ${url}: ${response.status} ${type}: ${await response.text()}`);
      return new SseStream(response, controller);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads more of the body; false at its end. Throws after `deadline` (performance.now() ms). */
  async #fill(deadline: number): Promise<boolean> {
    if (this.#done) return false;
    this.#pending ??= this.#reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<typeof TIMEOUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMEOUT), Math.max(0, deadline - performance.now()));
    });
    try {
      const result = await Promise.race([this.#pending, timeout]);
      if (result === TIMEOUT)
        throw new Error(`no SSE data before the deadline; buffered: ${JSON.stringify(this.#buffer)}`);
      this.#pending = undefined;
      if (result.done) {
        this.#done = true;
        return false;
      }
      this.#buffer += this.#decoder.decode(result.value, { stream: true });
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Takes one complete message out of the buffer, if there is one (comments are counted). */
  #take(): SseMessage | undefined {
    for (let guard = 0; guard < 10_000; guard++) {
      const match = /\r?\n\r?\n/.exec(this.#buffer);
      if (match === null) return undefined;
      const block = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      let fields = 0;
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) {
          this.comments++;
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        fields++;
        if (field === 'event') event = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
      }
      if (fields > 0) return { event, id, data: data.join('\n') };
    }
    throw new Error('too many empty SSE blocks');
  }

  /** The next message; throws if none arrives within `timeoutMs` or the stream ends. */
  async next(timeoutMs = 5_000): Promise<SseMessage> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const message = this.#take();
      if (message !== undefined) return message;
      if (performance.now() > deadline) throw new Error(`no complete SSE message within ${timeoutMs} ms`);
      if (!(await this.#fill(deadline))) throw new Error('the event stream ended');
    }
  }

  /** The next `count` messages. */
  async take(count: number, timeoutMs = 5_000): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    for (let i = 0; i < count; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  /** Reads until at least `count` comment lines have been seen (keep-alives); throws after `timeoutMs`. */
  async waitForComments(count: number, timeoutMs = 5_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // Messages read while waiting for comments are not expected here.
      const message = this.#take();
      if (message !== undefined)
        throw new Error(`unexpected message while waiting for keep-alives: ${JSON.stringify(message)}`);
      if (this.comments >= count) return;
      if (performance.now() > deadline)
        throw new Error(`fewer than ${count} keep-alives within ${timeoutMs} ms`);
      if (!(await this.#fill(deadline))) throw new Error('the event stream ended');
    }
  }

  /** Resolves once the server ends the stream (messages still arriving are dropped); throws after `timeoutMs`. */
  async ended(timeoutMs = 5_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        if (!(await this.#fill(deadline))) return;
      } catch (error) {
        // A connection the server closed may surface as a read error rather than a clean end.
        if (error instanceof Error && error.message.startsWith('no SSE data')) throw error;
        return;
      }
      this.#buffer = '';
      if (performance.now() > deadline)
        throw new Error(`the event stream did not end within ${timeoutMs} ms`);
    }
  }

  /** Closes the connection from the client side. */
  close(): void {
    this.#controller.abort();
    void this.#reader.cancel().catch(() => {});
    this.#pending?.catch(() => {});
  }
}

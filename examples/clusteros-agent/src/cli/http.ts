/**
 * Talking to the agent's dashboard API: one bounded request (the timeout covers connecting,
 * the answer and its body), with failures turned into one-line messages. Nothing here ever puts
 * the bearer token into a message.
 */

/** The `fetch` the CLI uses (the global one unless a test passes its own). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The agent could not be reached or gave no usable answer (exit status 2). */
export class AgentUnreachableError extends Error {
  /** Always `'AgentUnreachableError'`. */
  override readonly name = 'AgentUnreachableError' as const;
}

/** Largest answer body read, in bytes. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** One answer of the API. */
export interface ApiAnswer {
  /** HTTP status. */
  readonly status: number;
  /** The body as text. */
  readonly text: string;
}

/** Options of {@link request}. */
export interface RequestOptions {
  readonly method: 'GET' | 'POST';
  readonly timeoutMs: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Makes one request to `url`; throws {@link AgentUnreachableError} when there is no answer in time. */
export async function request(
  fetchImpl: FetchLike,
  url: string,
  options: RequestOptions,
): Promise<ApiAnswer> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await fetchImpl(url, {
      method: options.method,
      headers: { accept: 'application/json', ...options.headers },
      ...(options.body !== undefined ? { body: options.body } : {}),
      redirect: 'error',
      signal,
    });
    const bytes = await response.arrayBuffer();
    if (bytes.byteLength > MAX_BODY_BYTES)
      throw new AgentUnreachableError(`the answer from ${url} is larger than ${MAX_BODY_BYTES} bytes`);
    return { status: response.status, text: Buffer.from(bytes).toString('utf8') };
  } catch (error) {
    if (error instanceof AgentUnreachableError) throw error;
    if (signal.aborted)
      throw new AgentUnreachableError(`no answer from ${url} within ${options.timeoutMs} ms`);
    throw new AgentUnreachableError(`cannot reach the agent at ${url} (${describeFailure(error)})`);
  }
}

/** The most specific reason in a fetch failure: `ECONNREFUSED`, `ENOTFOUND`, or the innermost message. */
function describeFailure(error: unknown): string {
  let current: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    if (current instanceof Error && current.message !== '') message = current.message;
    current = (current as { cause?: unknown }).cause;
  }
  return oneLine(message, 100) || 'unknown error';
}

/** `text` on one line, without control characters, cut to `max` characters. */
export function oneLine(text: string, max = 300): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Parses `text` as JSON; throws {@link AgentUnreachableError} naming `url` when it is not. */
export function parseJson(url: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AgentUnreachableError(`the answer from ${url} is not JSON`);
  }
}

/**
 * A short-lived TCP forwarder from the old controller's address to the new one, run by the old
 * holder after a handoff.
 *
 * Why: SLURM clients (squeue, sbatch, scontrol) and daemons resolve the controller's name once
 * when they load slurm.conf and then retry the address they got for ~10 s. One that started while
 * the alias still pointed at the old holder keeps knocking there, finds nothing listening, and
 * fails after 10 s even though the new controller answered a fraction of a second later
 * (measured: one failed squeue per handoff, about one run in two). With the forwarder on the old
 * address every such connection reaches the new controller. A connection that arrives before the
 * new controller serves is held (its request waits, unread, in the socket) while the forwarder
 * retries the new controller every 50 ms, for at most `connectWaitMs`: closing it instead would
 * fail the client's request outright ("Zero Bytes were transmitted or received"), since a
 * client retries refused connects but not a connection that closes under it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Where forwarded connections go. */
export interface ForwardTarget {
  /** Host (IPv4 literal). */
  readonly host: string;
  /** Port. */
  readonly port: number;
}

/** Options of {@link ControllerForwarder.listen}. */
export interface ControllerForwarderOptions {
  /** Address to listen on: the old holder's cluster address (never all interfaces). */
  readonly host: string;
  /** The slurmctld port. */
  readonly port: number;
  /** The new controller. */
  readonly target: ForwardTarget;
  /** The forwarder closes itself after this long. @defaultValue 60000 */
  readonly lifetimeMs?: number;
  /** How long a held connection waits for the new controller. @defaultValue 10000 */
  readonly connectWaitMs?: number;
}

/** A running forwarder (see the module comment). */
export class ControllerForwarder {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timer: NodeJS.Timeout;
  #forwarded = 0;
  #closed: Promise<void> | undefined;

  readonly #connectWaitMs: number;

  private constructor(server: Server, target: ForwardTarget, lifetimeMs: number, connectWaitMs: number) {
    this.#server = server;
    this.#connectWaitMs = connectWaitMs;
    server.on('connection', (client) => this.#forward(client, target, Date.now() + this.#connectWaitMs));
    this.#timer = setTimeout(() => void this.close(), lifetimeMs);
    this.#timer.unref();
  }

  /** Listens on `host:port`; rejects when the port is taken (e.g. slurmctld still runs). */
  static async listen(options: ControllerForwarderOptions): Promise<ControllerForwarder> {
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new ControllerForwarder(
      server,
      options.target,
      options.lifetimeMs ?? 60_000,
      options.connectWaitMs ?? 10_000,
    );
  }

  /** Connections forwarded so far. */
  get forwarded(): number {
    return this.#forwarded;
  }

  #forward(client: Socket, target: ForwardTarget, deadline: number): void {
    this.#sockets.add(client);
    let upstream: Socket | undefined;
    let retry: NodeJS.Timeout | undefined;
    const drop = (): void => {
      clearTimeout(retry);
      client.destroy();
      upstream?.destroy();
    };
    client.once('close', () => {
      this.#sockets.delete(client);
      clearTimeout(retry);
      upstream?.end();
    });
    client.on('error', drop);
    const attempt = (): void => {
      if (client.destroyed || this.#closed !== undefined) return;
      const socket = connect({ host: target.host, port: target.port });
      upstream = socket;
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      socket.once('error', () => {
        if (socket.readyState === 'open') {
          drop();
          return;
        }
        // Not serving yet: hold the client and try again, within the bound.
        socket.destroy();
        if (Date.now() >= deadline) drop();
        else retry = setTimeout(attempt, 50);
      });
      socket.once('connect', () => {
        this.#forwarded++;
        socket.once('close', () => client.end());
        socket.on('error', drop);
        client.pipe(socket);
        socket.pipe(client);
        client.resume();
      });
    };
    attempt();
  }

  /** Stops listening and drops every forwarded connection; idempotent. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      clearTimeout(this.#timer);
      for (const socket of this.#sockets) socket.destroy();
      this.#server.close(() => resolve());
    });
    return this.#closed;
  }
}

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
 *
 * The old holder starts forwarding as soon as its slurmctld has closed its listener (right after
 * SIGTERM; see `portBusyUntil`), but it dials the new controller only once `ready()` says so
 * (the lease has moved to the new holder, which has closed any forwarder of its own by then).
 * Without that gate a handoff back to a recent holder made a loop: that node's forwarder from
 * the earlier handoff still pointed here, so each forwarder dialled the other, a client's
 * connection went round until the new holder closed its forwarder, and the client failed
 * (measured: one failed squeue in about six such handoffs).
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
  /**
   * Whether the target may be dialled yet; until it answers true, connections are held (within
   * `connectWaitMs`) without dialling. Asked every 50 ms while a connection waits, and no more
   * once it has answered true. @defaultValue always true
   */
  readonly ready?: () => boolean;
  /**
   * While this promise is pending (slurmctld is stopping), a taken port is tried again every
   * 10 ms; once it settled, once more. slurmctld closes its listener as soon as it gets SIGTERM
   * but exits only after saving its state; a client that connects in between is refused and
   * waits a whole second before its next try, where the forwarder would hold it.
   * @defaultValue none: a taken port rejects at once
   */
  readonly portBusyUntil?: Promise<unknown>;
}

/** One attempt to listen: the server, or the error that stopped it. */
function listenOnce(host: string, port: number): Promise<Server | Error> {
  const server = createServer({ pauseOnConnect: true });
  return new Promise((resolve) => {
    server.once('error', resolve);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', resolve);
      resolve(server);
    });
  });
}

/** A running forwarder (see the module comment). */
export class ControllerForwarder {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timer: NodeJS.Timeout;
  #forwarded = 0;
  #closed: Promise<void> | undefined;

  readonly #connectWaitMs: number;
  readonly #ready: () => boolean;
  #open = false;

  private constructor(
    server: Server,
    target: ForwardTarget,
    lifetimeMs: number,
    connectWaitMs: number,
    ready: () => boolean,
  ) {
    this.#server = server;
    this.#connectWaitMs = connectWaitMs;
    this.#ready = ready;
    server.on('connection', (client) => this.#forward(client, target, Date.now() + this.#connectWaitMs));
    this.#timer = setTimeout(() => void this.close(), lifetimeMs);
    this.#timer.unref();
  }

  /**
   * Listens on `host:port`; rejects when the port is taken (e.g. slurmctld still runs), unless
   * `portBusyUntil` is given (see there).
   */
  static async listen(options: ControllerForwarderOptions): Promise<ControllerForwarder> {
    let busyOver = options.portBusyUntil === undefined;
    const over = (): void => {
      busyOver = true;
    };
    void options.portBusyUntil?.then(over, over);
    // Bounded by `portBusyUntil`: an attempt that starts after it has settled is the last.
    for (;;) {
      const last = busyOver;
      const server = await listenOnce(options.host, options.port);
      if (!(server instanceof Error)) return ControllerForwarder.#serve(server, options);
      if ((server as NodeJS.ErrnoException).code !== 'EADDRINUSE' || last) throw server;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  static #serve(server: Server, options: ControllerForwarderOptions): ControllerForwarder {
    return new ControllerForwarder(
      server,
      options.target,
      options.lifetimeMs ?? 60_000,
      options.connectWaitMs ?? 10_000,
      options.ready ?? (() => true),
    );
  }

  /** Connections forwarded so far. */
  get forwarded(): number {
    return this.#forwarded;
  }

  /** Whether the target may be dialled: once `ready()` has said yes, it is not asked again. */
  #mayDial(): boolean {
    this.#open ||= this.#ready();
    return this.#open;
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
    const holdOrDrop = (): void => {
      if (Date.now() >= deadline) drop();
      else retry = setTimeout(attempt, 50);
    };
    const attempt = (): void => {
      if (client.destroyed || this.#closed !== undefined) return;
      if (!this.#mayDial()) {
        holdOrDrop();
        return;
      }
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
        holdOrDrop();
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

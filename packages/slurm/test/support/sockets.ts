// Socket helpers for the forwarder tests.
import { once } from 'node:events';
import type { Socket } from 'node:net';

/** The first chunk `socket` receives, as text; the socket is destroyed if none arrives within `limitMs`. */
export async function reply(socket: Socket, limitMs: number): Promise<string> {
  const timer = setTimeout(() => socket.destroy(new Error('no reply in time')), limitMs);
  try {
    const [data] = (await once(socket, 'data')) as [Buffer];
    return data.toString();
  } finally {
    clearTimeout(timer);
  }
}

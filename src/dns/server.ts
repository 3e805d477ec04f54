import type { Socket } from 'node:net';
import { TCPServer, UDPServer, type DnsHandler } from 'dns2';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { Closeable } from '../shared/lifecycle.js';
import { closeAll, once } from '../shared/lifecycle.js';

/**
 * The DNS listeners: UDP (what resolvers use) and TCP (for truncated answers and resolvers that
 * prefer it) on the same address and port, both feeding one handler. dns2's own `createServer`
 * waits forever when one transport fails to bind, so the two are bound here with typed errors.
 */

function bindError(e: NodeJS.ErrnoException, transport: string, address: string, port: number): HastackError {
  if (e.code === 'EADDRINUSE') {
    return new HastackError(ErrorCode.PORT_IN_USE, `dns: ${address}:${port}/${transport} is already in use; stop what listens there or change ports.dns in hastack.yaml`, {
      cause: e,
    });
  }
  if (e.code === 'EADDRNOTAVAIL') {
    return new HastackError(ErrorCode.SETUP_FAILED, `dns: ${address} is not an address of this machine; check the node's address in hastack.yaml`, { cause: e });
  }
  return new HastackError(ErrorCode.SETUP_FAILED, `dns: cannot listen on ${address}:${port}/${transport}: ${e.message}`, { cause: e });
}

function bindUdp(udp: UDPServer, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => reject(bindError(e, 'udp', address, port));
    udp.once('error', onError);
    udp.bind(port, address, () => {
      udp.off('error', onError);
      resolve();
    });
  });
}

function listenTcp(tcp: TCPServer, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => reject(bindError(e, 'tcp', address, port));
    tcp.once('error', onError);
    tcp.listen(port, address, () => {
      tcp.off('error', onError);
      resolve();
    });
  });
}

/** Listens on UDP and TCP `address:port`; the returned close() is idempotent and bounded. */
export async function serveDns(address: string, port: number, handler: DnsHandler, log: Logger): Promise<Closeable> {
  const udp = new UDPServer({ type: 'udp4' });
  const tcp = new TCPServer();
  const tcpSockets = new Set<Socket>();
  udp.on('request', handler);
  tcp.on('request', handler);
  // Malformed packets and broken TCP streams from one client: logged, never fatal.
  const onRequestError = (e: Error): void => log.debug({ err: e.message }, 'bad DNS request');
  udp.on('requestError', onRequestError);
  tcp.on('requestError', onRequestError);
  tcp.on('connection', (s: Socket) => {
    tcpSockets.add(s);
    s.on('close', () => tcpSockets.delete(s));
  });

  let udpBound = false;
  let tcpListening = false;
  const close = once(() =>
    closeAll([
      () =>
        udpBound
          ? new Promise<void>((resolve) => {
              udp.close(() => resolve());
            })
          : undefined,
      () => {
        if (!tcpListening) return undefined;
        const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
        // dns2 keeps idle TCP connections 10 s (RFC 7766); at shutdown they are cut at once.
        for (const s of tcpSockets) s.destroy();
        return closed;
      },
    ]),
  );

  try {
    await bindUdp(udp, address, port);
    udpBound = true;
    await listenTcp(tcp, address, port);
    tcpListening = true;
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
  // After start, a socket error is logged rather than crashing the process: the other transport
  // and the other DNS servers keep answering.
  udp.on('error', (e: Error) => log.error({ err: e.message }, 'DNS UDP socket error'));
  tcp.on('error', (e: Error) => log.error({ err: e.message }, 'DNS TCP server error'));
  return { close };
}

import type http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import { guardConnections, type ConnectionGate } from '../limits.js';
import { CLIENT_MAX_HEADER_BYTES, checkIntervalOf, type ClientLimits } from '../server.js';
import type { CertificateSet } from './certificate-set.js';
import { secureContextOptions } from './certs.js';
import { firstRecordLength, isHandshakeRecord, KEY_NAME_BYTES, MAX_RECORD_BYTES, ticketKeyNameOf } from './client-hello.js';
import type { TicketKeys, TicketRotor } from './tickets.js';
import type { TlsStats } from './stats.js';

/*
 * The HTTPS listener: the same handler, limits and parser settings as the plain one (server.ts),
 * behind TLS 1.2/1.3 with the intermediate profile (certs.ts). Its certificates come from a
 * CertificateSet read on every handshake; its session-ticket key from a TicketRotor, and a
 * connection presenting a ticket of the previous period goes to a twin server (never listening,
 * same handler and limits) that holds the previous key, so rotation does not cost resumptions.
 */

/**
 * 10 s for the TLS handshake (Node's default is 120 s): a handshake is two round trips and some
 * CPU, so 10 s is ample on a slow mobile link, and a slowloris connection that never finishes it
 * is cut well before the header timeout would start counting.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface HttpsListenerOptions {
  readonly handler: http.RequestListener;
  readonly limits: ClientLimits;
  readonly gate: ConnectionGate;
  readonly certificates: CertificateSet;
  readonly tickets: TicketRotor;
  readonly stats: TlsStats;
  readonly log: Logger;
  readonly handshakeTimeoutMs?: number;
  /** Choose the certificate by SNI (several certificates, or ACME which may add names); else the default serves all. */
  readonly sni: boolean;
}

export interface HttpsListener {
  readonly server: https.Server;
  /** Holds the previous period's ticket key (see the header); closed with the listener. */
  readonly twin: https.Server;
  /** Applies new ticket keys (the rotor calls it at each period boundary). */
  setTicketKeys(keys: TicketKeys): void;
  close(graceMs: number): Promise<void>;
}

function serverOptions(o: HttpsListenerOptions, ticketKey: Buffer): https.ServerOptions {
  const def = o.certificates.defaultCertificate;
  if (def === undefined) throw new Error('the HTTPS listener needs at least one certificate (startLb checks lb.tls first)');
  const l = o.limits;
  return {
    ...secureContextOptions(def.pem, o.certificates.protocol),
    ticketKeys: ticketKey,
    // A JS callback on every handshake costs ~27 % of resumed handshakes/s (measured with
    // openssl s_time here): only when there is a choice to make.
    ...(o.sni ? { SNICallback: o.certificates.sniCallback } : {}),
    handshakeTimeout: o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    // HTTP/1.1 only: HTTP/2 needs its own downgrade-smuggling defences (issue 20, out of scope).
    ALPNProtocols: ['http/1.1'],
    keepAliveTimeout: l.keepAliveMs,
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    maxHeaderSize: CLIENT_MAX_HEADER_BYTES,
    connectionsCheckingInterval: checkIntervalOf(l),
    insecureHTTPParser: false,
  };
}

function contextOptions(o: HttpsListenerOptions, ticketKey: Buffer): tls.SecureContextOptions {
  const def = o.certificates.defaultCertificate;
  if (def === undefined) throw new Error('no default certificate');
  return { ...secureContextOptions(def.pem, o.certificates.protocol), ticketKeys: ticketKey };
}

function build(o: HttpsListenerOptions, ticketKey: Buffer): https.Server {
  const server = https.createServer(serverOptions(o, ticketKey), o.handler);
  server.maxHeadersCount = o.limits.maxHeaders + 1;
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    const reason = o.stats.handshakeFailed(err);
    o.log.debug({ reason, err: err.message }, `TLS handshake failed: ${reason}`);
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => o.stats.handshakeDone(socket.isSessionReused()));
  server.on('clientError', onClientError);
  return server;
}

/** Node's own answers to malformed requests (the same bytes its default handler writes). */
const ANSWERS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};
/** How long an answered bad connection is still read (and what it sends dropped) before it is cut. */
const BAD_REQUEST_LINGER_MS = 1_000;

/**
 * Bad requests over TLS (431, 408, 400): answered like Node answers them on the plain listener,
 * but with end() and a short linger instead of an immediate destroy(). Over TLS an immediate
 * destroy drops the encrypted answer while the client is still sending (a 20 KB header), and the
 * client sees a bare close instead of its 4xx. Handshake errors also arrive here (https turns
 * tlsClientError into clientError): those connections are only closed.
 */
function onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
  const t = socket as tls.TLSSocket & { _secureEstablished?: boolean };
  if (t._secureEstablished !== true || !socket.writable || socket.writableEnded) {
    if (!socket.writableEnded) socket.destroy();
    return;
  }
  const status = ANSWERS[err.code ?? ''] ?? '400 Bad Request';
  socket.on('error', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  setTimeout(() => socket.destroy(), BAD_REQUEST_LINGER_MS).unref();
}

export function createHttpsListener(o: HttpsListenerOptions): HttpsListener {
  let keys = o.tickets.current();
  const server = build(o, keys.current);
  const twin = build(o, keys.previous);
  // The twin never listens; this starts its header/request timeout checks (slowloris), which
  // Node otherwise begins on 'listening'.
  twin.emit('listening');

  const toMain = server.listeners('connection') as Array<(s: net.Socket) => void>;
  const toTwin = twin.listeners('connection') as Array<(s: net.Socket) => void>;
  server.removeAllListeners('connection');
  const handOver = (socket: net.Socket, previous: boolean): void => {
    if (previous) o.stats.previousKeyResumptions += 1;
    for (const l of previous ? toTwin : toMain) l.call(previous ? twin : server, socket);
  };
  const timeoutMs = o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const lifetimeS = o.certificates.protocol.sessionTimeoutS;
  server.on('connection', (socket: net.Socket) => {
    // Only clients resuming with the previous period's ticket need the twin: look at the
    // ClientHello (one TLS record) before TLS starts, then give it back to the socket. Only
    // while such tickets can exist (the first session lifetime of a period): the rest of the
    // time every connection goes straight to TLS.
    if (!o.tickets.previousKeyMayBeUsed(lifetimeS)) {
      handOver(socket, false);
      return;
    }
    let buf: Buffer = Buffer.alloc(0);
    const decide = (previous: boolean): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      clearTimeout(timer);
      socket.pause();
      socket.unshift(buf);
      handOver(socket, previous);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (!isHandshakeRecord(buf)) return decide(false);
      const need = firstRecordLength(buf);
      if (need === undefined) return;
      if (need > MAX_RECORD_BYTES) return decide(false);
      if (buf.length < need) return;
      const name = ticketKeyNameOf(buf.subarray(0, need));
      decide(name !== undefined && name.equals(keys.previous.subarray(0, KEY_NAME_BYTES)));
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    // The handshake timeout starts once TLS has the socket; this bounds the wait for the hello.
    const timer = setTimeout(onError, timeoutMs);
    socket.on('data', onData);
    socket.on('error', onError);
  });
  guardConnections(server as unknown as http.Server, o.gate, 'close');

  const setTicketKeys = (k: TicketKeys): void => {
    keys = k;
    server.setTicketKeys(k.current);
    twin.setTicketKeys(k.previous);
  };
  // A new certificate: new handshakes get it, connections made keep theirs. setSecureContext
  // makes a new default context (which would carry random ticket keys), so the keys go with it.
  o.certificates.onChange(() => {
    if (o.certificates.defaultCertificate === undefined) return;
    server.setSecureContext(contextOptions(o, keys.current));
    twin.setSecureContext(contextOptions(o, keys.previous));
  });

  return {
    server,
    twin,
    setTicketKeys,
    close: (graceMs) => closeTls(server, twin, graceMs),
  };
}

/**
 * Like server.ts closeServer for the listening server: idle connections closed at once, the rest
 * after `graceMs`. The twin's few connections (previous-key resumptions) get the same grace.
 */
function closeTls(server: https.Server, twin: https.Server, graceMs: number): Promise<void> {
  // Stops the twin's timeout checks; it never listened, so there is nothing else to close.
  twin.close(() => undefined);
  const poll = setInterval(() => {
    server.closeIdleConnections();
    twin.closeIdleConnections();
  }, 100);
  const hard = setTimeout(() => {
    server.closeAllConnections();
    twin.closeAllConnections();
  }, graceMs);
  hard.unref();
  return new Promise((resolve) => {
    const done = (): void => {
      clearInterval(poll);
      twin.closeIdleConnections();
      resolve();
    };
    if (server.listening) server.close(done);
    else done();
    server.closeIdleConnections();
    twin.closeIdleConnections();
  });
}

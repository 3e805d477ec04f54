/** Load-balancer-wide counters, served by `/-/stats`. Plain numbers: incremented on the hot path. */
export class LbCounters {
  /** Client requests proxied or refused (admin `/-/` requests not counted). */
  requests = 0;
  /** Attempts after the first, over all requests. */
  retries = 0;
  /** Requests answered by the load balancer itself with an error, by HTTP status. */
  readonly errors = {
    /** Request target not a path, malformed Content-Length. */
    400: 0,
    /** Body over the buffering limit. */
    413: 0,
    /** A backend failed after maybe receiving the request, and it could not be retried. */
    502: 0,
    /** No backend available, or none reachable: the request was not processed. */
    503: 0,
    /** A backend did not answer in time. */
    504: 0,
  };
  /** Responses that had started streaming when the backend or the client went away. */
  aborted = 0;
  /** Requests answered 503 because every backend's connections and queue were full, or the queue wait ran out. */
  queueRefused = 0;
  /** Responses cut because the client read nothing for `lb.clientSendTimeoutMs` (never held against the backend). */
  slowClientsCut = 0;
  readonly startedAt = Date.now();
}

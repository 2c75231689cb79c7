/** The balancer's defaults in one place, one comment per value, plus a profile with short timers for tests. */
export const BALANCER_DEFAULTS = Object.freeze({
  deadlineMs: 1500, // a container silent this long is dropped; with the 250 ms check, at most 1.75 s (< 2 s)
  checkEveryMs: 250, // how often silence is checked: bounds the detection delay above the deadline
  helloTimeoutMs: 2000, // a connection must authenticate and register within this, or it is closed
  maxFrameBytes: 16 * 1024, // a registration record with full meta is ~5 KiB; larger frames are garbage
  maxContainers: 10_000, // all services together; registrations beyond are refused (flood guard)
  maxPendingConnections: 256, // connections not yet registered; more are closed at once (flood guard)
  registrationsPerSecond: 200, // sustained rate of accepted hellos (token bucket) ...
  registrationBurst: 400, // ... and its burst: a fleet restart fits, a flood does not
  retries: 2, // an idempotent request is tried on at most 1 + retries containers
  upstreamTimeoutMs: 10_000, // no response headers from a container within this → 504 (never retried)
  connectTimeoutMs: 1000, // connecting to a direct-mode container
  upstreamPipelining: 1, // idempotent requests in flight on one connection to a direct container (1 = none; see docs)
  proxyFront: 'llhttp' as 'llhttp' | 'node', // the HTTP front: net + Node's llhttp binding, or node:http (see docs)
  retryAfterS: 1, // Retry-After of a 503 when a service has no container
  maxStickyKeys: 100_000, // allocation keys remembered (oldest forgotten first)
  pickLogSize: 0, // picks recorded with every candidate's score (for tests and audits); 0 = off
  headersTimeoutMs: 10_000, // llhttp front: a request head not complete this long after its first byte: 408, closed
  requestTimeoutMs: 300_000, // llhttp front: a whole request (head and body) likewise; Node's requestTimeout; 0 = none
  maxRetryBodyBytes: 1024 * 1024, // an idempotent request's body is buffered up to this so it can be re-sent
});

export const BALANCER_TEST_PROFILE = Object.freeze({
  ...BALANCER_DEFAULTS,
  deadlineMs: 300,
  checkEveryMs: 50,
  helloTimeoutMs: 500,
  upstreamTimeoutMs: 3000,
  pickLogSize: 4096,
});

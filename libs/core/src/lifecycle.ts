/** Explicit lifecycle: every long-lived component is a {@link Startable}. */
import type { Logger } from 'pino';

export interface Startable {
  start(): Promise<void>;
  /** Stops gracefully; safe to call twice and before start. */
  stop(): Promise<void>;
}

/**
 * Stops `target` on SIGTERM or SIGINT (drain, then stop), forcing exit after `timeoutMs`. A second signal exits at
 * once. Returns a function that removes the handlers.
 */
export function stopOnSignals(
  target: Pick<Startable, 'stop'>,
  logger: Logger,
  timeoutMs = 30_000,
): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      logger.error({ timeoutMs }, 'graceful stop timed out; exiting');
      process.exit(1);
    }, timeoutMs);
    force.unref();
    target.stop().then(
      () => {
        logger.info('stopped');
        clearTimeout(force);
        process.exitCode = 0;
      },
      (err: unknown) => {
        logger.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}

/**
 * The error table of @switchyard/launch: stable codes, each documented in the README (a test checks it).
 * `LaunchError` does not extend core's `SwitchyardError`: this lib depends on nothing in the workspace, because every
 * project's tests depend on it through @switchyard/testing (core's included), and a dependency on core would be a
 * cycle. Its `code` is read the same way.
 */

export const LaunchErrors = {
  LNC_ERR_NOT_INSTALLED:
    'a program (redis-server, sipp) is not installed; the message names the Debian package',
  LNC_ERR_NO_BIN: 'a package declares no such `bin` in its package.json, or its file is not built',
  LNC_ERR_PORT_IN_USE: 'the port given to a process was taken before it bound it (retried on another port)',
  LNC_ERR_NETNS:
    'a network-namespace operation failed (not root, bad name, or an `ip`/`nft` command failed: the message names it)',
  LNC_ERR_NOT_READY: 'a started process exited or did not become ready in time; the message holds its output',
} as const satisfies Record<string, string>;

export type LaunchErrorCode = keyof typeof LaunchErrors;

export class LaunchError extends Error {
  readonly code: LaunchErrorCode;
  constructor(code: LaunchErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LaunchError';
    this.code = code;
  }
}

/** True when `err` is a {@link LaunchError} carrying `code`. */
export function isLaunchError(err: unknown, code?: LaunchErrorCode): err is LaunchError {
  return err instanceof LaunchError && (code === undefined || err.code === code);
}

/** The HTTP keep-alive probe: GET the server's probe URL; a 2xx within the timeout is alive. */
import type { Clock } from '@switchyard/core';

export type HttpProbe = (url: string, timeoutMs: number) => Promise<boolean>;

export function httpProbe(clock: Clock): HttpProbe {
  return async (url, timeoutMs) => {
    const ac = new AbortController();
    const t = clock.setTimeout(() => ac.abort(), timeoutMs);
    try {
      const res = await fetch(url, { signal: ac.signal });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    } finally {
      clock.clearTimeout(t);
    }
  };
}

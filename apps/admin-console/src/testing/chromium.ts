/** Debian's Chromium driven by playwright-core (never a downloaded browser), with the flags of TOOLCHAIN.md. */
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** `loopback`: the 127.x.y.z addresses the page may reach (IP literals go through the resolver rules too). */
export function launchChromium(loopback: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      // no look-ups of outside hosts: everything this test talks to is on loopback
      `--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1${loopback.map((h) => ` , EXCLUDE ${h}`).join('')}`,
    ],
  });
}

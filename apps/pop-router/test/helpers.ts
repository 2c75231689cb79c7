/** Shared set-up of the pop-router tests: keyrings on disk, routers on a simulated or a real network. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '@switchyard/core';
import { MemoryNetwork, seededRandom } from '@switchyard/gossip';
import { loadKeyringFile, PopRouter, PopRouterSettings, type PopRouterInit } from '../src/index.js';

export const SECRET = 'pop-router-test-secret-0123456789';
export const TOKEN = 'test-token-0123456789';

export function keyringFile(dir: string, secret = SECRET): string {
  const f = path.join(dir, 'keyring.json');
  fs.writeFileSync(f, JSON.stringify({ primary: 1, keys: [{ id: 1, secret }] }), { mode: 0o600 });
  return f;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pop-router-test-'));
}

export function routerInit(dir: string, over: Record<string, unknown>): PopRouterInit {
  const config = PopRouterSettings.parse({
    address: '127.0.0.1',
    port: 0,
    gossipTransport: 'unicast',
    gossipProfile: 'test',
    tunnelPort: 0,
    keyringFile: keyringFile(dir),
    ...over,
  });
  return { ...config, ...loadKeyringFile(config.keyringFile), token: TOKEN };
}

/** N routers on a simulated network (ManualClock), each with a real control API on 127.0.0.1:0. */
export async function simulatedPop(ids: string[], over: Record<string, unknown> = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const net = new MemoryNetwork({ clock, random: seededRandom(7) });
  const dir = tempDir();
  const routers = ids.map(
    (id, i) =>
      new PopRouter(
        { clock, transport: net.createTransport(`10.0.0.${i + 1}:7946`) },
        routerInit(dir, { id, seeds: i === 0 ? [] : ['10.0.0.1:7946'], ...over }),
      ),
  );
  for (const r of routers) await r.start();
  /** Advances simulated time in small steps so timers and deliveries interleave as on a network. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 10) clock.advance(10);
  };
  return {
    clock,
    net,
    routers,
    run,
    async stop() {
      await Promise.all(routers.map((r) => r.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

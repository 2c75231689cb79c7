import { describe, expect, it } from 'vitest';
import { TOKEN, simulatedPop } from './helpers.js';

const bearer = { authorization: `Bearer ${TOKEN}` };
const auth = { ...bearer, 'content-type': 'application/json' };

describe('pop-router on a simulated POP (ManualClock, memory network)', () => {
  it('membership and ownership reach every host; the control API shows them (contract C3)', async () => {
    const pop = await simulatedPop(['h1', 'h2', 'h3']);
    try {
      pop.run(3000);
      const [r1, r2, r3] = pop.routers as [
        (typeof pop.routers)[0],
        (typeof pop.routers)[0],
        (typeof pop.routers)[0],
      ];
      const hosts = (await (await fetch(`${r1.url}/v1/hosts`)).json()) as {
        self: string;
        hosts: Array<{ id: string; state: string }>;
      };
      expect(hosts.self).toBe('h1');
      expect(hosts.hosts.map((h) => [h.id, h.state])).toEqual([
        ['h1', 'alive'],
        ['h2', 'alive'],
        ['h3', 'alive'],
      ]);

      const put = await fetch(`${r2.url}/v1/sessions/conf-42`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({ epoch: 7 }),
      });
      expect(put.status).toBe(200);
      expect(await put.json()).toEqual({ id: 'conf-42', owner: 'h2', epoch: 7, version: 1 });
      pop.run(200);
      for (const r of pop.routers)
        expect(r.session('conf-42')).toEqual({ id: 'conf-42', owner: 'h2', epoch: 7, version: 1 });
      const byOwner = (await (await fetch(`${r3.url}/v1/sessions?owner=h2`)).json()) as {
        sessions: unknown[];
      };
      expect(byOwner.sessions).toEqual([{ id: 'conf-42', owner: 'h2', epoch: 7, version: 1 }]);
      expect((await fetch(`${r3.url}/v1/sessions/nope`)).status).toBe(404);

      // a stale epoch is refused; a later assignment wins everywhere
      const stale = await fetch(`${r3.url}/v1/sessions/conf-42`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({ epoch: 6 }),
      });
      expect(stale.status).toBe(409);
      expect(((await stale.json()) as { error: string }).error).toBe('POP_ERR_STALE_CLAIM');
      await fetch(`${r3.url}/v1/sessions/conf-42`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({ epoch: 8 }),
      });
      pop.run(200);
      for (const r of pop.routers) expect(r.session('conf-42')?.owner).toBe('h3');

      // release: only the owner may, with the token
      expect(
        (await fetch(`${r1.url}/v1/sessions/conf-42`, { method: 'DELETE', headers: bearer })).status,
      ).toBe(409);
      expect((await fetch(`${r3.url}/v1/sessions/conf-42`, { method: 'DELETE' })).status).toBe(401);
      expect(
        (await fetch(`${r3.url}/v1/sessions/conf-42`, { method: 'DELETE', headers: bearer })).status,
      ).toBe(204);
      pop.run(200);
      for (const r of pop.routers) expect(r.session('conf-42')).toBeUndefined();

      // drain
      expect((await fetch(`${r1.url}/v1/drain`, { method: 'POST' })).status).toBe(401);
      expect(await (await fetch(`${r1.url}/v1/drain`, { method: 'POST', headers: bearer })).json()).toEqual({
        draining: true,
      });
      const h1 = (
        (await (await fetch(`${r1.url}/v1/hosts`)).json()) as {
          hosts: Array<{ id: string; draining: boolean }>;
        }
      ).hosts;
      expect(h1.find((h) => h.id === 'h1')?.draining).toBe(true);
      // the drain state is gossiped: every host shows h1 draining, and only h1
      pop.run(200);
      for (const r of pop.routers) {
        const hs = (
          (await (await fetch(`${r.url}/v1/hosts`)).json()) as {
            hosts: Array<{ id: string; draining: boolean; sessions: number }>;
          }
        ).hosts;
        expect(hs.map((h) => [h.id, h.draining])).toEqual([
          ['h1', true],
          ['h2', false],
          ['h3', false],
        ]);
        // the marker is no session
        expect(hs.every((h) => h.sessions === 0)).toBe(true);
        expect(
          ((await (await fetch(`${r.url}/v1/sessions`)).json()) as { sessions: unknown[] }).sessions,
        ).toEqual([]);
      }
      const forgedMarker = await fetch(`${r2.url}/v1/sessions/%01drain%3Ah1`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({ epoch: 9 }),
      });
      expect(forgedMarker.status).toBe(400);
      expect(await (await fetch(`${r1.url}/v1/undrain`, { method: 'POST', headers: bearer })).json()).toEqual(
        {
          draining: false,
        },
      );
      pop.run(200);
      for (const r of pop.routers) {
        const hs = (
          (await (await fetch(`${r.url}/v1/hosts`)).json()) as {
            hosts: Array<{ id: string; draining: boolean }>;
          }
        ).hosts;
        expect(hs.some((h) => h.draining)).toBe(false);
      }
      await fetch(`${r1.url}/v1/drain`, { method: 'POST', headers: bearer });

      const bad = await fetch(`${r1.url}/v1/sessions/x`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({ epoch: -1 }),
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toBe('POP_ERR_BAD_REQUEST');

      const doc = (await (await fetch(`${r1.url}/documentation/json`)).json()) as {
        paths: Record<string, unknown>;
      };
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(['/v1/hosts', '/v1/sessions', '/v1/sessions/{id}', '/v1/drain']),
      );
      const metrics = await (await fetch(`${r1.url}/metrics`)).text();
      expect(metrics).toMatch(/pop_members\{state="alive"\} 3/);
      expect(metrics).toMatch(/pop_draining 1/);
    } finally {
      await pop.stop();
    }
  });

  it('simultaneous claims of one session on two hosts converge on one owner everywhere (lower id at equal epoch)', async () => {
    const pop = await simulatedPop(['h1', 'h2', 'h3']);
    try {
      pop.run(3000);
      const [r1, r2, r3] = pop.routers as [
        (typeof pop.routers)[0],
        (typeof pop.routers)[0],
        (typeof pop.routers)[0],
      ];
      pop.net.setDefaultLink({ delayMs: 5, jitterMs: 5 });
      r3.claim('conf-x', 3);
      r2.claim('conf-x', 3);
      pop.run(1000);
      const owners = pop.routers.map((r) => r.session('conf-x')?.owner);
      expect(owners).toEqual(['h2', 'h2', 'h2']);
      expect(new Set(pop.routers.map((r) => r.node.ownershipDigest())).size).toBe(1);
      void r1;
    } finally {
      await pop.stop();
    }
  });

  it('host death: the dead host is marked dead and its sessions lose their owner everywhere', async () => {
    const pop = await simulatedPop(['h1', 'h2', 'h3']);
    try {
      pop.run(3000);
      const [r1, r2, r3] = pop.routers as [
        (typeof pop.routers)[0],
        (typeof pop.routers)[0],
        (typeof pop.routers)[0],
      ];
      r3.claim('conf-d', 1);
      pop.run(200);
      expect(r1.session('conf-d')?.owner).toBe('h3');
      pop.net.partition([['10.0.0.1:7946', '10.0.0.2:7946'], ['10.0.0.3:7946']]);
      pop.run(15_000);
      for (const r of [r1, r2]) {
        expect(r.hosts().find((h) => h.id === 'h3')?.state).toBe('dead');
        expect(r.node.owner('conf-d')?.ownerStatus).toBe('dead');
      }
    } finally {
      await pop.stop();
    }
  });

  it('release linger: a session outlives its last dialog by --release-linger-ms everywhere, then is released; a drain releases at once', async () => {
    const pop = await simulatedPop(['h1', 'h2', 'h3'], { releaseLingerMs: 32_000 });
    try {
      pop.run(3000);
      const [r1] = pop.routers as [(typeof pop.routers)[0]];
      const dialog = (event: 'sessionOpened' | 'sessionClosed', conferenceId: string, callId: string) =>
        r1.fromDispatcher({ event, conferenceId, callId, worker: 'w1' });
      // the data plane claims a conference for its first call, which ends (release, then the dialog report)
      for (const conf of ['conf-a', 'conf-b']) {
        r1.fromDispatcher({ event: 'claim', session: conf });
        dialog('sessionOpened', conf, `${conf}-1`);
      }
      pop.run(500);
      for (const r of pop.routers) expect(r.session('conf-a')?.owner).toBe('h1');
      for (const conf of ['conf-a', 'conf-b']) {
        r1.fromDispatcher({ event: 'release', session: conf });
        dialog('sessionClosed', conf, `${conf}-1`);
      }
      pop.run(20_000);
      // still claimed everywhere 20 s after the last BYE; conf-b gets a new call within the linger
      for (const r of pop.routers) expect(r.session('conf-a')?.owner).toBe('h1');
      dialog('sessionOpened', 'conf-b', 'conf-b-2');
      pop.run(13_000);
      // conf-a's linger ran out: released everywhere; conf-b is kept (its call runs)
      for (const r of pop.routers) {
        expect(r.session('conf-a')).toBeUndefined();
        expect(r.session('conf-b')?.owner).toBe('h1');
      }
      const metrics = (await r1.metricsText()).body;
      expect(metrics).toMatch(/pop_router_events\{event="linger_reused"\} 1/);
      expect(metrics).toMatch(/pop_router_events\{event="linger_released"\} 1/);
      // conf-b's call ends; the host starts draining before its linger runs out: released at once
      r1.fromDispatcher({ event: 'release', session: 'conf-b' });
      dialog('sessionClosed', 'conf-b', 'conf-b-2');
      pop.run(1000);
      for (const r of pop.routers) expect(r.session('conf-b')?.owner).toBe('h1');
      r1.setDraining(true);
      pop.run(500);
      for (const r of pop.routers) expect(r.session('conf-b')).toBeUndefined();
    } finally {
      await pop.stop();
    }
  });
});

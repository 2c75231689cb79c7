/**
 * C11 with real namespaces (root; CI runs as root): a router namespace with an ECMP multipath route over two hosts
 * reached through veths, a UDP round trip through it, a route replaced with one nexthop fewer, and everything gone
 * after dispose(). Skipped (and says so) when not root.
 */
import { describe, expect, it } from 'vitest';
import { isLaunchError, listNamespaces, NetnsLab, routeArgs } from '../src/index.js';

const root = process.getuid?.() === 0;

/** A one-shot UDP echo server (exits after one datagram) and a client, as inline Node programs. */
const ECHO = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address,()=>process.exit(0)));s.bind(9999,process.argv[1],()=>console.log('ready'))`;
const CLIENT = `const s=require('dgram').createSocket('udp4');s.on('message',(m)=>{console.log(String(m));process.exit(0)});setInterval(()=>s.send('ping',9999,process.argv[1]),100);setTimeout(()=>process.exit(3),10000)`;

describe('routeArgs', () => {
  it('one hop: via; several: nexthop … (ECMP)', () => {
    expect(routeArgs('198.18.9.1/32', [{ via: '198.18.1.2' }])).toEqual([
      '198.18.9.1/32',
      'via',
      '198.18.1.2',
    ]);
    expect(routeArgs('198.18.9.1/32', [{ via: '198.18.1.2' }, { via: '198.18.2.2', dev: 'r-h2' }])).toEqual([
      '198.18.9.1/32',
      'nexthop',
      'via',
      '198.18.1.2',
      'nexthop',
      'via',
      '198.18.2.2',
      'dev',
      'r-h2',
    ]);
    expect(() => routeArgs('x', [])).toThrow(/no next hop/);
  });
});

describe.skipIf(!root)('NetnsLab (root)', () => {
  it('namespaces, veths, an ECMP route, a process inside, and nothing left after dispose', async () => {
    const lab = await NetnsLab.create('vxlan-launch');
    let made: readonly string[] = [];
    try {
      const r = await lab.namespace('r');
      const h1 = await lab.namespace('h1');
      const h2 = await lab.namespace('h2');
      made = [...lab.namespaces];
      await lab.veth(
        { ns: r, name: 'r-h1', address: '198.18.91.1/24' },
        { ns: h1, name: 'h1-r', address: '198.18.91.2/24' },
      );
      await lab.veth(
        { ns: r, name: 'r-h2', address: '198.18.92.1/24' },
        { ns: h2, name: 'h2-r', address: '198.18.92.2/24' },
      );
      for (const [h, via] of [
        [h1, '198.18.91.1'],
        [h2, '198.18.92.1'],
      ] as const) {
        await lab.address(h, 'lo', '198.18.99.1/32');
        await lab.defaultRoute(h, via);
      }
      await lab.route(r, '198.18.99.1/32', [{ via: '198.18.91.2' }, { via: '198.18.92.2' }]);
      expect(await lab.ip(r, 'route', 'show', '198.18.99.1')).toMatch(
        /nexthop via 198\.18\.91\.2.*\n.*nexthop via 198\.18\.92\.2/s,
      );
      // a real round trip from the router namespace to the VIP, answered by h1 (h2 drops it: nobody listens)
      await lab.replaceRoute(r, '198.18.99.1/32', [{ via: '198.18.91.2' }]);
      expect(await lab.ip(r, 'route', 'show', '198.18.99.1')).not.toMatch(/nexthop/);
      const echo = lab.exec(h1, process.execPath, ['-e', ECHO, '198.18.99.1']);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`echo not ready: ${echo.output()}`)), 15_000);
        echo.child.stdout!.on('data', () => {
          clearTimeout(t);
          resolve();
        });
      });
      expect((await lab.run(r, process.execPath, ['-e', CLIENT, '198.18.99.1'])).trim()).toBe('ping');
    } finally {
      await lab.dispose();
    }
    expect(made).toHaveLength(3);
    const left = await listNamespaces();
    for (const ns of made) expect(left).not.toContain(ns);
    await expect(lab.namespace('again')).rejects.toSatisfy((e: unknown) => isLaunchError(e, 'LNC_ERR_NETNS'));
  });
});

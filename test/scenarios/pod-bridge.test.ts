// The pod runner's node bridge against the real kernel, as root, in a network namespace made for
// the run (`pt-<id>-node`): `ensureBridge` and `setupPodNetwork` as the runner calls them, with
// three pods. Linux gives an unconfigured bridge the lowest MAC address of its ports, so without
// care its address changes when a pod joins or leaves, and a pod that resolved its gateway before
// has every frame to the node dropped until its ARP entry expires: a rolling update lost a
// request's SYN-ACK to exactly that. Shown: the bridge keeps its address while pods with lower
// port addresses join and others leave, and a pod that resolved its gateway first still reaches
// the node afterwards; a pod given an address that another pod had a moment before is reachable
// from the node at once (the node's stale ARP entry is flushed: it held the new pod's readiness
// back ~25 s in the same rolling update).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { run, runOk } from './plan.js';
import { ensureBridge, gatewayOf, setupPodNetwork, teardownPodNetwork, type CmdRunner, type PodNetwork } from '../../src/kubelet/network.js';

const POD_CIDR = '198.19.40.0/24';
const BRIDGE = 'portico0';

describe('the pod bridge keeps its MAC address as pods come and go', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const id = randomBytes(3).toString('hex');
  const nodeNs = `pt-${id}-node`;
  // nsenter --net (not `ip netns exec`, which has its own mount namespace) so that the pods' named
  // namespaces it creates are visible to every process, as for the runner in `portico agent`.
  const inNode: CmdRunner = (argv) => run(['nsenter', `--net=/run/netns/${nodeNs}`, ...argv]);
  const pods: PodNetwork[] = ['a', 'b', 'c'].map((p, i) => ({ netns: `pt-${id}-${p}`, veth: `pt${id}${p}`, ip: `198.19.40.${i + 2}` }));
  const gw = gatewayOf(POD_CIDR).ip;
  const bridgeMAC = async () => ((JSON.parse(await runOk(['ip', '-n', nodeNs, '-j', 'link', 'show', 'dev', BRIDGE])) as Array<{ address: string }>)[0]!.address);
  // A TCP connect from the pod to a closed port of the gateway: refused (curl exit 7) when frames
  // reach the node and its RST comes back, a timeout (exit 28) when they are dropped.
  const reachesNode = async (pod: PodNetwork) => {
    const r = await run(['ip', 'netns', 'exec', pod.netns, 'curl', '-sS', '--connect-timeout', '2', `http://${gw}:9/`]);
    return { reached: r.code === 7, detail: `curl exit ${r.code}: ${r.stderr.trim()}` };
  };

  before(async () => {
    await runOk(['ip', 'netns', 'add', nodeNs]);
    await runOk(['ip', '-n', nodeNs, 'link', 'set', 'lo', 'up']);
  });

  after(async () => {
    for (const p of pods) await teardownPodNetwork(p, inNode);
    await run(['ip', 'netns', 'del', nodeNs]);
  });

  it('a pod that resolved its gateway still reaches the node after lower-addressed ports join and others leave', async () => {
    await ensureBridge(BRIDGE, POD_CIDR, inNode);
    const pinned = await bridgeMAC();
    const [a, b, c] = pods as [PodNetwork, PodNetwork, PodNetwork];
    await setupPodNetwork(BRIDGE, POD_CIDR, a, inNode);
    await setupPodNetwork(BRIDGE, POD_CIDR, b, inNode);
    // Port addresses chosen so that an unpinned bridge would take a's, and b would resolve to it.
    await runOk(['ip', '-n', nodeNs, 'link', 'set', 'dev', a.veth, 'address', '02:00:00:00:00:05']);
    await runOk(['ip', '-n', nodeNs, 'link', 'set', 'dev', b.veth, 'address', '02:00:00:00:00:09']);
    assert.equal(await bridgeMAC(), pinned, 'the bridge took a port\'s address');
    const first = await reachesNode(b);
    assert.ok(first.reached, `pod b reaches the node: ${first.detail}`);
    const neigh = await runOk(['ip', '-n', b.netns, 'neigh', 'show', gw]);
    assert.match(neigh, new RegExp(`lladdr ${pinned}`), `pod b resolved its gateway to the bridge: ${neigh}`);

    // A port with the lowest address joins, then a leaves.
    await setupPodNetwork(BRIDGE, POD_CIDR, c, inNode);
    await runOk(['ip', '-n', nodeNs, 'link', 'set', 'dev', c.veth, 'address', '02:00:00:00:00:01']);
    assert.equal(await bridgeMAC(), pinned, 'a lower port address joining changed the bridge\'s');
    const afterJoin = await reachesNode(b);
    assert.ok(afterJoin.reached, `pod b still reaches the node after a port joined: ${afterJoin.detail}`);
    await teardownPodNetwork(a, inNode);
    assert.equal(await bridgeMAC(), pinned, 'a port leaving changed the bridge\'s address');
    const afterLeave = await reachesNode(b);
    assert.ok(afterLeave.reached, `pod b still reaches the node after a port left: ${afterLeave.detail}`);

    // Idempotent: a restarted runner calls ensureBridge on the existing bridge; the address stays.
    await ensureBridge(BRIDGE, POD_CIDR, inNode);
    assert.equal(await bridgeMAC(), pinned);
  });

  it('an address given again to a new pod is reachable from the node at once (no stale ARP entry)', async () => {
    const b = pods[1]!;
    // The node talks to b, so it holds an ARP entry for b's address and b's MAC.
    await run(['ip', 'netns', 'exec', nodeNs, 'curl', '-sS', '--connect-timeout', '2', `http://${b.ip}:9/`]);
    assert.match(await runOk(['ip', '-n', nodeNs, 'neigh', 'show', b.ip]), /lladdr/);
    // b goes; a new pod gets the same address (a new veth, a new MAC), as the runner's allocator does.
    await teardownPodNetwork(b, inNode);
    const again: PodNetwork = { netns: `pt-${id}-d`, veth: `pt${id}d`, ip: b.ip };
    pods.push(again);
    await setupPodNetwork(BRIDGE, POD_CIDR, again, inNode);
    const r = await run(['ip', 'netns', 'exec', nodeNs, 'curl', '-sS', '--connect-timeout', '2', `http://${again.ip}:9/`]);
    assert.equal(r.code, 7, `the node reaches the new pod at ${again.ip} (refused, not a timeout): curl exit ${r.code}: ${r.stderr.trim()}`);
  });
});

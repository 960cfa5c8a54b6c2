// The examples/ folder end to end, as a new user runs it: `portico up` with its default flags (as
// root) on a "host" that is a network namespace made for the run (`pt-<id>-node`, host0
// 198.19.255.50/24), with an outside client in a second one (`pt-<id>-client`, 198.19.255.100/24,
// on the other end of host0's veth). Every examples/*.yaml is applied with kubectl, then the traffic
// (cluster IP, node port, external IP, hand-made endpoints) and the DNS answers are checked, the
// DNS ones from inside a pod (examples/in-pod: the pod's network, mount and UTS namespaces, so its
// own resolv.conf) through the kube-dns cluster IP: short names through the search path, SRV,
// headless per-pod names, the ExternalName CNAME. From a pod, the API through the `kubernetes`
// Service (its endpoint is the bridge address). Then `kubectl logs -f` and `--previous`, and
// what `portico up` leaves behind when it is stopped: nothing of its pods.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KUBECTL, PORTICO, Proc, REPO_ROOT, run, runOk, type ExecResult } from './plan.js';
import { podNetnsName } from '../../src/kubelet/network.js';
import { cleanupPods } from '../../src/kubelet/runner.js';
import { isAlive, processStartTicks } from '../../src/kubelet/process.js';
import { pollUntil } from '../../src/util/poll.js';

const NODE_IP = '198.19.255.50';
const CLIENT_IP = '198.19.255.100';
// What the examples rely on from `portico up`'s defaults.
const ECHO_IP = '10.96.0.100';
const KUBE_DNS_IP = '10.96.0.10';
const BRIDGE_IP = '10.244.0.1';
const EXTERNAL_IP = '198.51.100.10';

interface PodJSON {
  metadata: { name: string; uid: string };
  status: { podIP?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ containerID?: string; restartCount: number }> };
}
interface EchoReply {
  pod: string;
  address: string;
  client: string;
}

const until = <T>(what: string, f: () => Promise<T | undefined | false>, boundMs = 90_000): Promise<T> => pollUntil(what, f, boundMs, 250);

describe('examples/: portico up with default flags, each example applied with kubectl', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const id = randomBytes(3).toString('hex');
  const nodeNs = `pt-${id}-node`;
  const clientNs = `pt-${id}-client`;
  let root = '';
  let dataDir = '';
  let up: Proc | undefined;
  let outside: Proc | undefined;
  const children: Proc[] = [];
  const made: string[] = [];
  const podUIDs = new Set<string>();

  const inNode = (argv: string[]) => ['nsenter', `--net=/run/netns/${nodeNs}`, ...argv];
  const inClient = (argv: string[]) => ['ip', 'netns', 'exec', clientNs, ...argv];
  const kubeconfig = () => join(dataDir, 'kubeconfig.yaml');
  const kubectl = (args: string[], input?: string): Promise<ExecResult> =>
    run(inNode([KUBECTL, '--kubeconfig', kubeconfig(), '--cache-dir', join(root, 'kube-cache'), '--request-timeout', '30s', ...args]), { input, boundMs: 60_000 });
  const kubectlOk = async (args: string[], input?: string) => {
    const r = await kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  // examples/in-pod, as the README uses it (run from the clone, kubectl reaching the API in the node).
  const inPod = (pod: string, argv: string[]) => runOk(inNode(['env', `KUBECONFIG=${kubeconfig()}`, `KUBECTL=${KUBECTL}`, join(REPO_ROOT, 'examples', 'in-pod'), pod, ...argv]), { boundMs: 30_000 });
  const getPod = async (name: string) => {
    const p = JSON.parse(await kubectlOk(['get', 'pod', name, '-o', 'json'])) as PodJSON;
    podUIDs.add(p.metadata.uid);
    return p;
  };
  const ready = (name: string) => until(`${name} Ready`, async () => {
    const p = await getPod(name);
    return (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') && p;
  });
  const curl = async (argv: string[]) => JSON.parse(await runOk(argv, { boundMs: 20_000 })) as EchoReply;
  const curlInPod = async (pod: string, url: string) => JSON.parse(await inPod(pod, ['curl', '-sS', '-m', '3', url])) as EchoReply;
  const apply = (file: string) => kubectlOk(['apply', '-f', join(REPO_ROOT, 'examples', file)]);
  const pods: Record<string, PodJSON> = {};

  before(async () => {
    root = await mkdtemp(join(tmpdir(), `pt-${id}-examples-`));
    dataDir = join(root, 'data');
    await runOk(['ip', 'netns', 'add', nodeNs]);
    made.push(nodeNs);
    await runOk(['ip', 'netns', 'add', clientNs]);
    made.push(clientNs);
    for (const cmd of [
      ['-n', nodeNs, 'link', 'set', 'lo', 'up'],
      ['-n', nodeNs, 'link', 'add', 'host0', 'type', 'veth', 'peer', 'name', 'client0', 'netns', clientNs],
      ['-n', nodeNs, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'host0'],
      ['-n', nodeNs, 'link', 'set', 'host0', 'up'],
      // A default route, as any host has: external IPs and cluster IPs are DNATed on the way out.
      ['-n', nodeNs, 'route', 'add', 'default', 'via', CLIENT_IP],
      ['-n', clientNs, 'link', 'set', 'lo', 'up'],
      ['-n', clientNs, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'client0'],
      ['-n', clientNs, 'link', 'set', 'client0', 'up'],
      ['-n', clientNs, 'route', 'add', 'default', 'via', NODE_IP],
    ]) {
      await runOk(['ip', ...cmd]);
    }
    // Only --data-dir differs from the defaults; the working directory is the clone (Proc's cwd),
    // which the examples' `bin/portico.js` commands are relative to.
    up = new Proc('portico up', inNode([process.execPath, PORTICO, 'up', '--data-dir', dataDir]));
    await up.waitFor(/node agent: nftables data plane, Service CIDR 10\.96\.0\.0\/12/);
  });

  after(async () => {
    for (const c of children) await c.stop('SIGKILL', 5_000);
    await outside?.stop();
    await up?.stop('SIGTERM', 60_000);
    if (dataDir) await cleanupPods(join(dataDir, 'pods'));
    for (const uid of podUIDs) {
      const n = podNetnsName('portico-', uid);
      spawnSync('ip', ['netns', 'del', n]);
      await rm(join('/etc/netns', n), { recursive: true, force: true });
    }
    for (const n of made.reverse()) spawnSync('ip', ['netns', 'del', n]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('01-nodeport: the fixed cluster IP and the node port reach both pods; from a pod, the short name, <svc>.<ns> and SRV resolve through kube-dns', async () => {
    await apply('01-nodeport.yaml');
    pods['echo-a'] = await ready('echo-a');
    pods['echo-b'] = await ready('echo-b');
    const ips = new Set([pods['echo-a'].status.podIP, pods['echo-b'].status.podIP]);
    assert.equal((await kubectlOk(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort}'])).trim(), `${ECHO_IP} 30080`);
    const seen = new Set<string>();
    await until('both echo pods answering on the cluster IP', async () => {
      const r = await curl(inNode(['curl', '-sS', '-m', '3', `http://${ECHO_IP}/`]));
      assert.ok(ips.has(r.address), `answered from ${r.address}`);
      seen.add(r.pod);
      return seen.size === 2;
    });
    assert.deepEqual([...seen].sort(), ['echo-a', 'echo-b']);
    const viaNodePort = await curl(inClient(['curl', '-sS', '-m', '3', `http://${NODE_IP}:30080/`]));
    assert.ok(['echo-a', 'echo-b'].includes(viaNodePort.pod));

    // The pods' DNS: the kube-dns cluster IP, whose endpoint is the DNS server on the pod bridge.
    assert.equal(await inPod('echo-a', ['cat', '/etc/resolv.conf']), `nameserver ${KUBE_DNS_IP}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`);
    assert.match(await kubectlOk(['-n', 'kube-system', 'get', 'endpoints', 'kube-dns']), new RegExp(`${BRIDGE_IP.replace(/\./g, '\\.')}:1053`));
    const fromPod = await until('curl http://echo from a pod', async () => curlInPod('echo-b', 'http://echo/'));
    assert.ok(['echo-a', 'echo-b'].includes(fromPod.pod));
    const withNs = await curlInPod('echo-b', 'http://echo.default/');
    assert.ok(['echo-a', 'echo-b'].includes(withNs.pod));
    assert.equal((await inPod('echo-a', ['dig', '+short', '+search', 'echo'])).trim(), ECHO_IP);
    assert.equal((await inPod('echo-a', ['dig', '+short', '+search', 'echo.default'])).trim(), ECHO_IP);
    assert.equal((await inPod('echo-a', ['getent', 'hosts', 'echo'])).trim().split(/\s+/)[0], ECHO_IP);
    assert.equal((await inPod('echo-a', ['dig', '+short', '+search', 'SRV', '_http._tcp.echo'])).trim(), '0 100 80 echo.default.svc.cluster.local.');
  });

  it('02-headless: the name gives the ready pods, each pod has its own name, SRV lists them, the pod knows its FQDN', async () => {
    await apply('02-headless.yaml');
    const db0 = await ready('db-0');
    const db1 = await ready('db-1');
    const want = [db0.status.podIP!, db1.status.podIP!].sort();
    const all = await until('both db pods behind db', async () => {
      const a = (await inPod('echo-a', ['dig', '+short', '+search', 'db'])).trim().split('\n').sort();
      return a.length === 2 && a;
    });
    assert.deepEqual(all, want);
    assert.equal((await inPod('echo-a', ['dig', '+short', 'db-0.db.default.svc.cluster.local'])).trim(), db0.status.podIP);
    assert.deepEqual((await inPod('echo-a', ['getent', 'hosts', 'db-1.db'])).trim().split(/\s+/), [db1.status.podIP, 'db-1.db.default.svc.cluster.local']);
    const srv = (await inPod('echo-a', ['dig', '+short', '+search', 'SRV', '_http._tcp.db'])).trim().split('\n').map((l) => l.split(' ').slice(2).join(' ')).sort();
    assert.deepEqual(srv, ['8080 db-0.db.default.svc.cluster.local.', '8080 db-1.db.default.svc.cluster.local.']);
    assert.equal((await inPod('db-0', ['hostname'])).trim(), 'db-0');
    assert.equal((await inPod('db-0', ['hostname', '-f'])).trim(), 'db-0.db.default.svc.cluster.local');
  });

  it('03-externalname: a CNAME to the target name, and the alias carries traffic', async () => {
    await apply('03-externalname.yaml');
    const answer = await until('the CNAME', async () => {
      const a = (await inPod('echo-a', ['dig', '+noall', '+answer', '+search', 'echo-alias'])).trim();
      return a.includes('CNAME') && a;
    });
    const records = answer.split('\n').map((l) => l.split(/\s+/));
    assert.deepEqual(records.map((r) => [r[0], r[3], r[4]]), [
      ['echo-alias.default.svc.cluster.local.', 'CNAME', 'echo.default.svc.cluster.local.'],
      ['echo.default.svc.cluster.local.', 'A', ECHO_IP],
    ]);
    const r = await curlInPod('echo-a', 'http://echo-alias/');
    assert.ok(['echo-a', 'echo-b'].includes(r.pod));
  });

  it('04-selectorless: hand-made Endpoints (port names matching) route the Service to a backend outside the cluster', async () => {
    outside = new Proc('outside echo', inNode([process.execPath, PORTICO, 'echo', '--http', `${BRIDGE_IP}:9090`, '--name', 'outside']));
    await outside.waitFor(/Portico echo is up/);
    await apply('04-selectorless.yaml');
    assert.match(await kubectlOk(['get', 'endpoints', 'outside']), /10\.244\.0\.1:9090/);
    // The EndpointSlice mirror keeps the port's name, which is how the Service port finds it.
    const slice = JSON.parse(await kubectlOk(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=outside', '-o', 'json'])) as { items: Array<{ ports?: Array<{ name?: string; port?: number }> }> };
    assert.deepEqual(slice.items.flatMap((s) => s.ports ?? []).map((p) => [p.name, p.port]), [['http', 9090]]);
    const ip = (await kubectlOk(['get', 'svc', 'outside', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const fromNode = await until('outside through its cluster IP', () => curl(inNode(['curl', '-sS', '-m', '3', `http://${ip}/`])));
    assert.equal(fromNode.pod, 'outside');
    const fromPod = await curlInPod('echo-a', 'http://outside/');
    assert.deepEqual([fromPod.pod, fromPod.client.split(':')[0]], ['outside', pods['echo-a']!.status.podIP]);
  });

  it('05-external-ips: the external IP answers from the node and from an outside client routed to it', async () => {
    await apply('05-external-ips.yaml');
    const fromNode = await until('the external IP from the node', () => curl(inNode(['curl', '-sS', '-m', '3', `http://${EXTERNAL_IP}/`])));
    assert.ok(['echo-a', 'echo-b'].includes(fromNode.pod));
    const fromClient = await curl(inClient(['curl', '-sS', '-m', '3', `http://${EXTERNAL_IP}/`]));
    assert.ok(['echo-a', 'echo-b'].includes(fromClient.pod));
  });

  it("06-traffic-policies: externalTrafficPolicy Local keeps the client's address, Cluster masquerades it; internalTrafficPolicy Local serves from local endpoints", async () => {
    await apply('06-traffic-policies.yaml');
    const local = await until('node port 30081', () => curl(inClient(['curl', '-sS', '-m', '3', `http://${NODE_IP}:30081/`])));
    assert.equal(local.client.split(':')[0], CLIENT_IP);
    const cluster = await until('node port 30082', () => curl(inClient(['curl', '-sS', '-m', '3', `http://${NODE_IP}:30082/`])));
    assert.notEqual(cluster.client.split(':')[0], CLIENT_IP);
    const internal = await until('echo-internal-local from a pod', () => curlInPod('echo-a', 'http://echo-internal-local/'));
    assert.ok(['echo-a', 'echo-b'].includes(internal.pod));
  });

  it('kubectl logs -f: later lines arrive on the open stream, which ends with the container; a client that stops lets the server go', async () => {
    const more = join(root, 'ticker-more');
    const end = join(root, 'ticker-end');
    const script = `echo first; while [ ! -f ${more} ]; do sleep 0.2; done; echo later; while [ ! -f ${end} ]; do sleep 0.2; done; echo last`;
    await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ticker' }, spec: { restartPolicy: 'Never', containers: [{ name: 't', image: 'busybox', command: ['sh', '-c', script] }] } }));
    await ready('ticker');
    const follow = new Proc('kubectl logs -f ticker', inNode([KUBECTL, '--kubeconfig', kubeconfig(), 'logs', '-f', 'ticker']));
    children.push(follow);
    await follow.waitFor(/^first$/m, 30_000);
    assert.doesNotMatch(follow.stdout(), /later/);
    await writeFile(more, '');
    await follow.waitFor(/^later$/m, 30_000);
    assert.ok(follow.running, 'kubectl is still following');
    await writeFile(end, '');
    const code = await until('kubectl logs -f to end with the container', async () => (!follow.running ? { code: follow.child.exitCode } : undefined), 30_000);
    assert.deepEqual([code.code, follow.stdout()], [0, 'first\nlater\nlast\n']);

    // The API server holds the followed file open while kubectl reads; when kubectl goes, so does it.
    const upPid = up!.child.pid!;
    const logFile = join(dataDir, 'pods', 'pods', pods['echo-a']!.metadata.uid, 'echo', '0.log');
    const holders = async () => {
      const fds = await readdir(`/proc/${upPid}/fd`);
      return (await Promise.all(fds.map((fd) => readlink(`/proc/${upPid}/fd/${fd}`).catch(() => '')))).filter((t) => t === logFile).length;
    };
    const quiet = new Proc('kubectl logs -f echo-a', inNode([KUBECTL, '--kubeconfig', kubeconfig(), 'logs', '-f', 'echo-a']));
    children.push(quiet);
    await quiet.waitFor(/Portico echo is up: echo-a/, 30_000);
    assert.equal(await holders(), 1, 'the server follows the log file');
    await quiet.stop('SIGTERM');
    await until('the server to close the followed log', async () => (await holders()) === 0, 20_000);
  });

  it("kubectl logs --previous: the instance before the restart; kube's error when there is none", async () => {
    const runs = join(root, 'crashy-runs');
    const script = `n=$(cat ${runs} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${runs}; echo "run $n"; [ $n -ge 2 ] && exec sleep 3600; exit 1`;
    await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crashy' }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', script] }] } }));
    await until('crashy restarted and running', async () => {
      const p = await getPod('crashy');
      return (p.status.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    });
    assert.equal(await kubectlOk(['logs', 'crashy']), 'run 2\n');
    assert.equal(await kubectlOk(['logs', 'crashy', '--previous']), 'run 1\n');
    const none = await kubectl(['logs', 'echo-a', '--previous']);
    assert.equal(none.code, 1);
    assert.equal(none.stderr.trim(), 'Error from server (BadRequest): previous terminated container "echo" in pod "echo-a" not found');
  });

  it('pods reach the API through the kubernetes Service: its endpoint is the bridge address, which the serving certificate names', async () => {
    const ep = JSON.parse(await kubectlOk(['get', 'endpoints', 'kubernetes', '-o', 'json'])) as { subsets: Array<{ addresses: Array<{ ip: string }>; ports: Array<{ port: number }> }> };
    assert.deepEqual(ep.subsets.map((s) => [s.addresses.map((a) => a.ip), s.ports.map((p) => p.port)]), [[[BRIDGE_IP], [6443]]]);
    const slice = JSON.parse(await kubectlOk(['get', 'endpointslice', 'kubernetes', '-o', 'json'])) as { endpoints: Array<{ addresses: string[] }> };
    assert.deepEqual(slice.endpoints.map((e) => e.addresses), [[BRIDGE_IP]]);
    // From inside a pod, verified against the cluster CA (not -k): the cluster domain name, the short
    // name through the search path, the cluster IP, and the advertised address itself.
    const ca = join(dataDir, 'pki', 'ca.crt');
    const curlPod = (url: string, extra: string[] = []) => inPod('echo-a', ['curl', '-sS', '-m', '5', '--cacert', ca, ...extra, '-w', '\n%{http_code}', url]);
    for (const url of ['https://kubernetes.default.svc.cluster.local/version', 'https://kubernetes/version', 'https://10.96.0.1/version', `https://${BRIDGE_IP}:6443/version`]) {
      const out = await curlPod(url);
      const code = out.slice(out.lastIndexOf('\n') + 1);
      assert.equal(code, '200', `${url}: ${out}`);
      const v = JSON.parse(out.slice(0, out.lastIndexOf('\n'))) as { gitVersion?: string; platform?: string };
      assert.match(String(v.gitVersion), /^v1\.\d+\.\d+/, url);
    }
    // Anything but the public paths needs a token, as from anywhere else.
    const anon = await curlPod('https://kubernetes.default.svc.cluster.local/api/v1/namespaces/default/services/kubernetes');
    assert.equal(anon.slice(anon.lastIndexOf('\n') + 1), '401', anon);
    assert.equal((JSON.parse(anon.slice(0, anon.lastIndexOf('\n'))) as { reason: string }).reason, 'Unauthorized');
    const token = (await readFile(join(dataDir, 'pki', 'admin.token'), 'utf8')).trim();
    const authed = await curlPod('https://kubernetes.default.svc.cluster.local/api/v1/namespaces/default/services/kubernetes', ['-H', `Authorization: Bearer ${token}`]);
    assert.equal(authed.slice(authed.lastIndexOf('\n') + 1), '200', authed);
    assert.equal((JSON.parse(authed.slice(0, authed.lastIndexOf('\n'))) as { spec: { clusterIP: string } }).spec.clusterIP, '10.96.0.1');
  });

  it('stopping portico up (SIGTERM) stops its pods gracefully and removes their network namespaces', async () => {
    const mark = join(root, 'graceful-term');
    const script = `trap 'echo TERM > ${mark}; exit 0' TERM; while :; do sleep 0.2; done`;
    await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'graceful' }, spec: { terminationGracePeriodSeconds: 20, containers: [{ name: 'g', image: 'busybox', command: ['sh', '-c', script] }] } }));
    await ready('graceful');
    const list = JSON.parse(await kubectlOk(['get', 'pods', '-o', 'json'])) as { items: PodJSON[] };
    const running: Array<{ name: string; pid: number; ticks: string; netns: string }> = [];
    for (const p of list.items) {
      const pid = Number(p.status.containerStatuses?.[0]?.containerID?.replace('portico://', ''));
      if (!pid) continue;
      const ticks = await processStartTicks(pid);
      if (ticks) running.push({ name: p.metadata.name, pid, ticks, netns: podNetnsName('portico-', p.metadata.uid) });
    }
    assert.deepEqual(running.map((r) => r.name).sort(), ['crashy', 'db-0', 'db-1', 'echo-a', 'echo-b', 'graceful']);
    const before = await runOk(['ip', 'netns', 'list']);
    for (const r of running) assert.match(before, new RegExp(`^${r.netns}\\b`, 'm'));

    const exit = await up!.stop('SIGTERM', 60_000);
    assert.deepEqual(exit, { code: 0, signal: null });
    for (const r of running) assert.equal(await isAlive(r.pid, r.ticks), false, `${r.name}'s process ${r.pid} ended`);
    assert.ok(existsSync(mark), 'the container got SIGTERM before any SIGKILL');
    const afterList = await runOk(['ip', 'netns', 'list']);
    for (const r of running) {
      assert.doesNotMatch(afterList, new RegExp(`^${r.netns}\\b`, 'm'));
      assert.ok(!existsSync(join('/etc/netns', r.netns)), `/etc/netns/${r.netns} removed`);
    }
  });
});

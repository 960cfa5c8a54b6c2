// For tests that need a real control plane: one in this process (HTTPS on loopback, memory store,
// a small test cluster), a client for it through its kubeconfig, and a temporary data directory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startControlPlane, type ControlPlane } from './controlplane.js';
import { KubeClient, loadKubeconfig } from '../client/http.js';

export interface TestControlPlane {
  /** The temporary data directory (removed by close). */
  dir: string;
  cp: ControlPlane;
  client: KubeClient;
  /** Closes the client and the control plane, then removes `dir`. */
  close(): Promise<void>;
}

/** Starts a control plane in a fresh temporary directory named `prefix…`. */
export async function startTestControlPlane(prefix: string): Promise<TestControlPlane> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  let cp: ControlPlane;
  try {
    cp = await startControlPlane({
      dataDir: dir,
      apiHost: '127.0.0.1',
      apiPort: 0,
      store: 'memory',
      cluster: { serviceCIDRs: ['198.18.0.0/16'], podCIDR: '198.19.0.0/16', nodePortRange: { base: 30000, size: 1000 }, clusterDomain: 'cluster.local', lbPool: [] },
      compactionIntervalMs: 60_000,
      logger: pino({ level: 'silent' }),
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const client = new KubeClient(loadKubeconfig(cp.kubeconfigPath));
  return {
    dir,
    cp,
    client,
    async close() {
      client.close();
      await cp.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

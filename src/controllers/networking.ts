// Starts the controllers that turn Services, Pods and Nodes into endpoints and node ranges, over one
// set of shared informers, in dependency order: node IPAM, Endpoints, EndpointSlices, mirroring,
// the workload controllers (ReplicaSets, Deployments), then the garbage collector (which needs the owners' informers synced before it judges owners).
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import { SharedInformers } from './informers.js';
import { EndpointsController } from './endpoints.js';
import { EndpointSliceController } from './endpointslices.js';
import { EndpointSliceMirroringController } from './mirroring.js';
import { GarbageCollector } from './gc.js';
import { NodeIpamController, type NodeIpamOptions } from './nodeipam.js';
import { ReplicaSetController } from './replicaset.js';
import { DeploymentController } from './deployment.js';

export interface NetworkControllersOptions extends NodeIpamOptions {
  maxEndpointsPerSlice?: number;
  workers?: number;
}

export interface NetworkControllers {
  informers: SharedInformers;
  endpoints: EndpointsController;
  slices: EndpointSliceController;
  mirroring: EndpointSliceMirroringController;
  gc: GarbageCollector;
  ipam: NodeIpamController;
  replicaSets: ReplicaSetController;
  deployments: DeploymentController;
  /** Resolves when every controller's queue is empty (events still in flight are not counted). */
  whenIdle(): Promise<void>;
  stop(): void;
}

export async function startNetworkControllers(registry: ApiRegistry, log: Logger, opts: NetworkControllersOptions = {}): Promise<NetworkControllers> {
  const informers = new SharedInformers(registry, log);
  const ipam = new NodeIpamController(registry, informers, log, opts);
  const endpoints = new EndpointsController(registry, informers, log, { workers: opts.workers });
  const slices = new EndpointSliceController(registry, informers, log, { workers: opts.workers, maxEndpointsPerSlice: opts.maxEndpointsPerSlice });
  const mirroring = new EndpointSliceMirroringController(registry, informers, log, { workers: opts.workers, maxEndpointsPerSlice: opts.maxEndpointsPerSlice });
  const replicaSets = new ReplicaSetController(registry, informers, log);
  const deployments = new DeploymentController(registry, informers, log);
  const gc = new GarbageCollector(registry, informers, log);
  await ipam.start();
  await endpoints.start();
  await slices.start();
  await mirroring.start();
  await replicaSets.start();
  await deployments.start();
  await gc.start();
  const all = [ipam, endpoints, slices, mirroring, replicaSets, deployments, gc];
  return {
    informers,
    endpoints,
    slices,
    mirroring,
    gc,
    ipam,
    replicaSets,
    deployments,
    async whenIdle() {
      await Promise.all(all.map((c) => c.whenIdle()));
    },
    stop() {
      for (const c of all) c.stop();
      informers.stop();
    },
  };
}

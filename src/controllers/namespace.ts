// Namespace controller: removes everything in a Terminating namespace, then the namespace itself
// (kube's namespace lifecycle). Runs in the server process, through the same storages as the API.
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { KubeObject } from '../registry/kinds/meta.js';

export class NamespaceController {
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private readonly registry: ApiRegistry,
    private readonly log: Logger,
    private readonly retryMs = 1000,
  ) {
    registry.onNamespaceTerminating = (name) => this.enqueue(name);
  }

  /** Picks up namespaces left Terminating by an earlier run. */
  async start(): Promise<void> {
    const { items } = await this.registry.kind<KubeObject>('Namespace').list(undefined);
    for (const ns of items) if (ns.metadata?.deletionTimestamp) this.enqueue(ns.metadata.name!);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private enqueue(name: string): void {
    this.pending.add(name);
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const name of [...this.pending]) {
        if (await this.finalize(name)) this.pending.delete(name);
      }
    } catch (err) {
      this.log.warn({ err }, 'namespace cleanup failed; will retry');
    } finally {
      this.running = false;
      if (this.pending.size) this.schedule(this.retryMs);
    }
  }

  /** Deletes the namespace's content; true once the namespace is gone. */
  private async finalize(name: string): Promise<boolean> {
    let remaining = 0;
    for (const s of this.registry.namespacedStorages()) {
      await s.deleteCollection(name, {});
      remaining += await s.count(name);
    }
    if (remaining > 0) return false;
    await this.registry.kind('Namespace').forceDelete(undefined, name);
    this.log.info({ namespace: name }, 'namespace deleted');
    return true;
  }
}

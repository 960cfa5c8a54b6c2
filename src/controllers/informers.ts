// One informer per kind for all controllers of the process: each kind is listed and watched once,
// however many controllers read it (client-go's shared informer factory).
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import type { ListWatchInformer } from '../client/informer.js';
import { localInformer } from '../client/local.js';

export class SharedInformers {
  private readonly byKind = new Map<string, ListWatchInformer<KubeObject>>();

  constructor(
    private readonly registry: ApiRegistry,
    private readonly log?: Logger,
  ) {}

  get<T extends KubeObject>(kind: string): ListWatchInformer<T> {
    let inf = this.byKind.get(kind);
    if (!inf) {
      inf = localInformer(this.registry.kind<KubeObject>(kind), (err) => this.log?.warn({ err, kind }, 'informer'));
      this.byKind.set(kind, inf);
    }
    return inf as unknown as ListWatchInformer<T>;
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.byKind.values()].map((i) => i.waitForSync()));
  }

  stop(): void {
    for (const i of this.byKind.values()) i.stop();
    this.byKind.clear();
  }
}

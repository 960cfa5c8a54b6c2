// What the commands that reach an API server through a kubeconfig share.
import { UsageError } from '../util/errors.js';
import { KubeClient, loadKubeconfig } from '../client/http.js';

/** A client for the API server the `--kubeconfig` file names; a file that can not be read or used is a usage error. */
export function kubeClientFromFlag(path: string): KubeClient {
  try {
    return new KubeClient(loadKubeconfig(path));
  } catch (err) {
    throw new UsageError(`--kubeconfig: ${(err as Error).message}`);
  }
}

import { render } from './render.js';
import { FakeNftables } from './fake.js';
import { generatedModel, sport, ep, modelOf } from '../testing.js';
const node = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false, serviceCIDRs: ['198.18.0.0/16'] };
const m = modelOf([
  ...generatedModel(3, 3).services.values(),
  sport({ name: 'aff', clusterIP: '198.18.1.1', affinityTimeoutSeconds: 60, endpoints: [ep('198.19.1.1', 80), ep('198.19.1.2', 80)] }),
  sport({ name: 'lb', clusterIP: '198.18.1.2', nodePort: 31000, loadBalancerIPs: ['198.19.255.100'], loadBalancerSourceRanges: ['198.19.255.0/28'], externalPolicyLocal: true, endpoints: [ep('198.19.1.3', 80, { nodeName: 'node-b' })] }),
  sport({ name: 'empty', clusterIP: '198.18.1.3', externalIPs: ['198.19.255.50'] }),
]);
const r = render(m, 'full', node);
process.stdout.write(r.text);
const f = new FakeNftables(); f.apply(r.text); console.error(f.dump());

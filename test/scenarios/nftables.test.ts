// The shared Service scenarios (issue 6, "Show it") with the agents' nftables data plane.
import { scenarioSuite } from './topology.js';

scenarioSuite('nftables');

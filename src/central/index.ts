import type { Config } from '../config/schema.js';
import type { NodeExtension } from '../node/extension.js';
import { BrokerServices, brokerServicesOptions } from './broker-services.js';
import { dashboardExtension } from './dashboard.js';
import { type InventoryExtension, inventoryExtension } from './inventory.js';
import { jobsExtension, jobsOptionsFromConfig } from './jobs.js';
import { Leadership } from './leadership.js';
import { natsEnrolmentExtension } from './nats-jwt-access.js';
import { SharedInventory } from '../store/jetstream/inventory.js';
import { SharedTrust } from './shared-trust.js';

// The one place that lists the central role's duties: `admiral up` and `admiral node start`
// pass `centralExtensions(config)` to the node when `config.isCentral`. Each central feature
// adds its extension here.

/** The extensions a central node runs, built from its validated config. */
export function centralExtensions(config: Config): NodeExtension[] {
  const options = brokerServicesOptions(config);
  const { state } = options;
  // First: the others ask it whether this central leads.
  const leadership = new Leadership(options.state);
  const services = new BrokerServices(options, leadership);
  const extensions: NodeExtension[] = [
    leadership,
    services,
    inventoryExtension({
      missedHellos: config.central.inventory.missedHellos,
      // Centrals sharing state share what they know of the nodes.
      ...(state.backend === 'jetstream' && {
        shared: {
          open: (nc) => SharedInventory.open(nc, state),
          leadership,
        },
      }),
    }),
  ];
  // Jobs resolve `all` and `where` targets against the inventory, found when a job needs it.
  const inventoryExt = extensions.find(
    (e): e is InventoryExtension => e.name === 'inventory' && 'inventory' in e,
  );
  const inventory = () => inventoryExt?.inventory?.list() ?? [];
  const jobs = jobsExtension(
    { ...jobsOptionsFromConfig(config, inventory), state: options.state },
    leadership,
  );
  extensions.push(jobs);
  // After the inventory and the jobs: it watches both once they started.
  extensions.push(
    dashboardExtension({
      ...(config.central.http.token !== undefined && { httpToken: config.central.http.token }),
      inventory: () => inventoryExt?.inventory,
      runner: () => jobs.runner,
      registry: () => services.registry,
    }),
  );
  // Centrals sharing state share the operator keys they trust (trust.json).
  if (state.backend === 'jetstream') extensions.push(new SharedTrust(state));
  // Enrolment on nats-server with JWTs (`admiral up --listen` runs its own on the embedded broker).
  const operatorDir = config.central.enrol.natsOperatorDir;
  if (operatorDir !== undefined)
    extensions.push(natsEnrolmentExtension(config, operatorDir, leadership));
  return extensions;
}

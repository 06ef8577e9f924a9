import type { Config } from '../config/schema.js';
import type { NodeExtension } from '../node/extension.js';
import { BrokerServices, brokerServicesOptions } from './broker-services.js';
import { inventoryExtension } from './inventory.js';

// The one place that lists the central role's duties: `admiral up` and `admiral node start`
// pass `centralExtensions(config)` to the node when `config.isCentral`. Each central feature
// adds its extension here.

/** The extensions a central node runs, built from its validated config. */
export function centralExtensions(config: Config): NodeExtension[] {
  return [
    new BrokerServices(brokerServicesOptions(config)),
    inventoryExtension({ missedHellos: config.central.inventory.missedHellos }),
  ];
}

// Public surface of the embedded broker. Values and types are exported in separate lists.
export { Broker, isLoopbackHost, NATS_COMPAT_VERSION } from './broker.js';
export type { BrokerLogger } from './client.js';
export {
  BrokerConfigError,
  BrokerError,
  BrokerListenError,
  InsecureListenError,
  ServerErrorText,
} from './errors.js';
export type {
  BrokerOptions,
  BrokerOptionsInput,
  BrokerStats,
  PermissionsInput,
} from './options.js';
export { BrokerOptionsSchema } from './options.js';

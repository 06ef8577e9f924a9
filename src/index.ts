// The library's public surface. Values and types are exported in separate lists.

export { BrokerConfigFileError, loadBrokerConfigFile, parseNatsConf } from './broker/conf.js';
export type { BrokerOptions, BrokerOptionsInput, BrokerStats } from './broker/index.js';
export { Broker, BrokerConfigError, InsecureListenError } from './broker/index.js';
export type { InventoryExtension, InventoryQuery, InventoryReply } from './central/inventory.js';
export { Inventory, inventoryExtension } from './central/inventory.js';
export type { AdmiralClient, ClientOptions } from './client/connect.js';
export { connectClient, normalizeBrokerUrl } from './client/connect.js';
export { ConfigError } from './config/errors.js';
export { loadConfig } from './config/load.js';
export { redact } from './config/redact.js';
export type { Config } from './config/schema.js';
export type { Facts, FactsExtension, FactsOptions } from './fleet/facts.js';
export { collectFacts, factsExtension } from './fleet/facts.js';
export { fleetExtensions } from './fleet/index.js';
export type { QueryInventoryOptions } from './fleet/inventory-client.js';
export { InventoryQueryError, inventoryNames, queryInventory } from './fleet/inventory-client.js';
export type { PingOptions, PingReply, PingReport } from './fleet/ping.js';
export { pingFleet, startPingResponder } from './fleet/ping.js';
export type {
  Filter,
  FilterOp,
  ResolveOptions,
  Target,
  TargetCandidate,
  WhereRecord,
} from './fleet/target.js';
export {
  FilterSyntaxError,
  globToRegExp,
  matches,
  matchesRecord,
  parseWhere,
  resolveTarget,
  TargetError,
  whereFromRecord,
  whereToRecord,
} from './fleet/target.js';
export { createMethodRegistry, METHOD_HANDLERS, MethodNotFoundError } from './methods/registry.js';
export type { MethodContext, MethodHandler, MethodOutput } from './methods/types.js';
export type { BrokerCredentials } from './node/broker-connection.js';
export { BrokerConnectError, connectToBroker } from './node/broker-connection.js';
export type { NodeContext, NodeExtension } from './node/extension.js';
export { nodeOptionsFromConfig } from './node/from-config.js';
export { AdmiralNode } from './node/node.js';
export type { NodeOptions } from './node/options.js';
export { checkStatusFile } from './observability/status-file.js';
export type { Envelope, Identity, Message, MessageInput } from './protocol/index.js';
export {
  completeMessage,
  decodeEnvelope,
  encodeEnvelope,
  generateIdentity,
  loadOrCreateIdentity,
  messageJsonSchema,
  newMessageId,
  parseInput,
  parseMessage,
  Subjects,
  signMessage,
  verifyMessage,
} from './protocol/index.js';
export type { InventoryRecord } from './store/inventory.js';
export type { Store } from './store/store.js';
export { openStore } from './store/store.js';
export { VERSION } from './version.js';

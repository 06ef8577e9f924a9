import { isAbsolute, join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config/schema.js';
import { connectToBroker } from '../node/broker-connection.js';
import type { Logger } from '../observability/logger.js';
import type { SubjectPermissions } from '../protocol/enrolment.js';
import { type Identity, Subjects } from '../protocol/index.js';
import { SharedEnrolment } from '../store/jetstream/enrolment.js';
import { EnrolmentExtension, type EnrolmentOptions, type NodeBrokerAccess } from './enrolment.js';
import { EnrolmentStore } from './enrolment-store.js';
import { NATS_OPERATOR_FILES, NatsOperator } from './nats-operator.js';

// Enrolment on nats-server in operator mode: an admitted node gets a user JWT for its key with
// the permissions an enrolled node has (protocol/enrolment.ts, nodePermissions), signed by the
// account signing key; a revoked node's key goes into the account JWT's revocations, pushed to
// the servers over a connection as the system account's user. nats-server then closes the
// node's connections and refuses its JWT (server/accounts.go, checkUserRevoked).

export class NatsJwtAccess implements NodeBrokerAccess {
  readonly #operator: NatsOperator;
  readonly #connectSystem: () => Promise<NatsConnection>;
  #system: NatsConnection | undefined;

  /** `connectSystem` dials the servers as the system user (NatsOperator.systemCreds). */
  constructor(operator: NatsOperator, connectSystem: () => Promise<NatsConnection>) {
    this.#operator = operator;
    this.#connectSystem = connectSystem;
  }

  admit(name: string, publicKey: string, permissions: SubjectPermissions): string {
    return this.#operator.userJwt(publicKey, name, permissions);
  }

  async revoke(publicKey: string): Promise<undefined> {
    // Another central of this operator may have revoked since: keep its revocations.
    await this.#catchUp();
    this.#operator.revoke(publicKey);
    await this.#push();
    return undefined;
  }

  /**
   * Takes in what the servers hold (revocations by another central of this operator), then
   * pushes the account JWT as it stands: a revocation that did not reach the servers before.
   */
  async start(log: Logger): Promise<void> {
    try {
      await this.#catchUp();
      await this.#push();
    } catch (err) {
      log('warn', 'the account JWT (revocations) could not be pushed to nats-server', {
        error: String(err),
      });
    }
  }

  async close(): Promise<void> {
    await this.#system?.close().catch(() => undefined);
    this.#system = undefined;
  }

  async #connection(): Promise<NatsConnection> {
    if (this.#system === undefined || this.#system.isClosed()) {
      this.#system = await this.#connectSystem();
    }
    return this.#system;
  }

  async #push(): Promise<void> {
    await this.#operator.push(await this.#connection());
  }

  /**
   * Merges the fleet account's JWT as the servers' resolver holds it
   * ($SYS.REQ.ACCOUNT.<account>.CLAIMS.LOOKUP) into the operator's. A server that does not answer
   * leaves it as it is: the push that follows says whether any server is there.
   */
  async #catchUp(): Promise<void> {
    const subject = `$SYS.REQ.ACCOUNT.${this.#operator.accountPublicKey}.CLAIMS.LOOKUP`;
    let text: string;
    try {
      const nc = await this.#connection();
      const msg = await nc.request(subject, '', { timeout: 2000 });
      text = Buffer.from(msg.data).toString('utf8').trim();
    } catch {
      return;
    }
    // An answer that is not a JWT (an error, or none stored yet) changes nothing, and neither
    // does one that is not this operator's (merge refuses it): ours is pushed over it.
    if (text.split('.').length !== 3) return;
    try {
      this.#operator.merge(text);
    } catch {
      return;
    }
  }
}

/**
 * Central's enrolment on nats-server in operator mode (`central.enrol.natsOperatorDir`): the
 * operator folder of `admiral nats init`, the enrolment records in `<dataDir>/enrolment.json`
 * (as `admiral up --listen`), updates pushed over the broker central uses, as the system user.
 */
export function natsEnrolmentExtension(
  config: Config,
  operatorDir: string,
  leadership?: EnrolmentOptions['leadership'],
): EnrolmentExtension {
  const inData = (p: string): string => (isAbsolute(p) ? p : join(resolve(config.dataDir), p));
  const dir = inData(operatorDir);
  const operator = NatsOperator.load(dir, new Subjects(config.subjectPrefix));
  const b = config.broker;
  const access = new NatsJwtAccess(operator, () =>
    connectToBroker(
      {
        url: b.url,
        credsFile: join(dir, NATS_OPERATOR_FILES.systemCreds),
        ...(b.rootCa !== undefined && { rootCa: inData(b.rootCa) }),
        ...(b.clientCert !== undefined && { clientCert: inData(b.clientCert) }),
        ...(b.clientKey !== undefined && { clientKey: inData(b.clientKey) }),
      },
      { name: `admiral-system:${config.nodeName ?? config.centralNode}` },
    ),
  );
  const e = config.central.enrol;
  const state = config.central.state;
  return new EnrolmentExtension({
    // Centrals sharing state share the enrolment records, and only the leader enrols.
    ...(state.backend === 'jetstream' && {
      shared: (nc: NatsConnection, identity: Identity) =>
        SharedEnrolment.open(
          nc,
          { replicas: state.replicas, prefix: state.bucketPrefix },
          identity,
        ),
      ...(leadership !== undefined && { leadership }),
    }),
    store: new EnrolmentStore(inData('enrolment.json')),
    broker: access,
    tokenTtlMs: e.tokenTtl * 1000,
    maxPending: e.maxPending,
    pendingTtlMs: e.pendingTtl * 1000,
    requestsPerSecond: e.requestsPerSecond,
  });
}

import type { Subjects } from './subjects.js';

// Joining a fleet from another machine (docs/security.md, "Joining a fleet"). A joining node
// connects as the enrolment user, whose permissions allow only a request on
// `<prefix>.central.enrol` and the replies to it, and sends its name and public key (signed with
// its key, so nobody can enrol a key they do not hold) and, when it has one, a join token.
// Central answers accepted (with its own public key, which the node pins), pending (the node
// asks again until an operator decides) or rejected. An accepted node's identity key becomes its
// broker nkey, with permissions for its own subjects only.

/** Central's service a joining node asks (`adm.central.enrol`). */
export const ENROL_SERVICE = 'enrol';
/** Central's service for operators' signed requests (tokens, accept, reject, revoke). */
export const ENROL_ADMIN_SERVICE = 'enrolAdmin';

/**
 * The enrolment credential. It is public on purpose: it grants only `adm.central.enrol` and its
 * replies; what admits a node is the token or the operator.
 */
export const ENROL_USER = 'enrol';
export const ENROL_PASSWORD = 'enrol';
/** Inbox prefix of enrolment connections: apart from every node's, so none sees another's replies. */
export const ENROL_INBOX_PREFIX = '_ENROL';

/** A node's own inbox prefix: its broker user may subscribe there and nowhere else under `_INBOX`. */
export function nodeInboxPrefix(node: string): string {
  return `_INBOX_${node}`;
}

/** What a joining node sends (the body of a signed request to `enrol`). */
export interface EnrolRequestBody {
  readonly name: string;
  /** A join token from `admiral tokens create` or `admiral up`; none waits for an operator. */
  readonly token?: string;
}

export type EnrolReply =
  | {
      readonly status: 'accepted';
      /** The central's name and public key, which the node pins in its trust store. */
      readonly central: { readonly name: string; readonly publicKey: string };
      readonly subjectPrefix: string;
      /** On nats-server in operator mode: the node's user JWT (its key, its permissions), issued by central. */
      readonly userJwt?: string;
    }
  | { readonly status: 'pending'; readonly reason: string }
  /** Not recorded (rate limit, too many waiting): ask again later, or come with a join token. */
  | { readonly status: 'busy'; readonly reason: string }
  | { readonly status: 'rejected'; readonly reason: string };

/** nats-server `authorization` permissions (camelCase, as src/broker/options.ts). */
export interface SubjectPermissions {
  readonly publish: { readonly allow: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[] };
  readonly allowResponses?: { readonly max: number; readonly expires: number };
}

/** The enrolment user's permissions: one request subject, replies on its own inbox prefix. */
export function enrolUserPermissions(subjects: Subjects): SubjectPermissions {
  return {
    publish: { allow: [subjects.central(ENROL_SERVICE)] },
    subscribe: { allow: [`${ENROL_INBOX_PREFIX}.>`] },
  };
}

/**
 * A remote node's broker permissions: it takes messages on its own subjects, broadcasts and
 * pings; it sends messages only to its central (requests, replies, error log), its own events,
 * central's services, and answers to requests it received (ACKs, pings, live broadcasts).
 */
export function nodePermissions(
  subjects: Subjects,
  node: string,
  central: string,
): SubjectPermissions {
  const p = subjects.prefix;
  return {
    publish: {
      allow: [
        `${p}.node.${central}.*`,
        `${p}.evt.${node}.*`,
        `${p}.central.>`,
        `${p}.bulk.${central}.*`,
        // The central's key, asked at start (trust on first use): only central subscribes here.
        subjects.key(central),
      ],
    },
    subscribe: {
      allow: [
        subjects.nodeSubscription(node),
        subjects.broadcastSubscription(),
        subjects.key(node),
        subjects.eventSubscription(undefined, 'online'),
        `${p}.ping`,
        `${p}.bulk.${node}.*`,
        `${nodeInboxPrefix(node)}.>`,
      ],
    },
    // An ACK, a ping answer, a live broadcast's start and complete: a few per request, within the hour.
    allowResponses: { max: 4, expires: 3_600_000 },
  };
}

/**
 * A user entry for nats-server's `authorization { users = [...] }` (JSON, which nats-server's
 * configuration syntax accepts), authenticating by the node's nkey (its identity's public key) and,
 * unless `permissions` is undefined (central, operators), confined to those subjects.
 */
export function natsServerUser(
  publicKey: string,
  permissions: SubjectPermissions | undefined,
): Record<string, unknown> {
  if (permissions === undefined) return { nkey: publicKey };
  const { publish, subscribe, allowResponses } = permissions;
  return {
    nkey: publicKey,
    permissions: {
      publish: { allow: [...publish.allow] },
      subscribe: { allow: [...subscribe.allow] },
      ...(allowResponses && {
        allow_responses: {
          max: allowResponses.max,
          expires: `${Math.round(allowResponses.expires / 1000)}s`,
        },
      }),
    },
  };
}

import * as z from 'zod';

// Requests and replies of the central's plain request/reply services on `adm.central.<service>`
// (subjects.central): JSON both ways. A reply is `{ok: true, result}` or `{ok: false, code, error}`.

export const CENTRAL_SERVICES = {
  ping: 'ping',
  service: 'service',
  execute: 'execute',
  /** Which central leads (any central answers; see leadership.ts). */
  leader: 'leader',
} as const;

/** A registry name: 1 to 256 characters, no control characters. */
export const serviceName = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => !/\p{Cc}/u.test(s), { message: 'no control characters' });

/** Fields every request may carry: its access key and the writer's address as the broker saw it. */
const common = {
  accessKey: z.string().optional(),
  clientIp: z.string().max(64).optional(),
};

export const PingRequestSchema = z.strictObject({ data: z.string(), ...common });

export const SERVICE_OPS = ['register', 'replace', 'update', 'get', 'delete', 'list'] as const;
export type ServiceOp = (typeof SERVICE_OPS)[number];

export const ServiceRequestSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.enum(['register', 'replace', 'update']),
    name: serviceName,
    data: z.string(),
    ...common,
  }),
  z.strictObject({ op: z.enum(['get', 'delete']), name: serviceName, ...common }),
  z.strictObject({ op: z.literal('list'), ...common }),
]);
export type ServiceRequest = z.output<typeof ServiceRequestSchema>;

/** `module.method`: a module file name and one of its exported functions. */
export const MODULE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const METHOD_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;

export const ExecuteRequestSchema = z.strictObject({
  method: z.string().min(1).max(200),
  data: z.string(),
  ...common,
});
export type ExecuteRequest = z.output<typeof ExecuteRequestSchema>;

export type CentralReply =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly code: string; readonly error: string };

/** One entry of `service list`. */
export interface ListedService {
  readonly name: string;
  /** A string as given, or the object with its last_write_ts/last_write_ip. */
  readonly data: unknown;
}

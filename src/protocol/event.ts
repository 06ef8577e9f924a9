import { sign } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import { PUBLIC_KEY_PATTERN, SIGNATURE_PATTERN } from './envelope.js';
import { type Identity, isValidSignatureOver } from './signing.js';
import type { VerifyItem } from './verifier.js';

// Lifecycle events (`adm.evt.<node>.online|offline|hello`) are plain JSON objects that anyone may
// read, signed so that nobody but the node itself can speak for it (docs/security.md): `sig` is
// the ed25519 signature of `signer` (default: the body's `publicKey`, the node's own key) over
// the subject and the body without `sig`. The subject is signed too, so a hello cannot be
// replayed as an offline event, nor one node's event as another's.

const SIGNING_CONTEXT = 'admiral-event-v1\n';

function signingText(subject: string, body: Readonly<Record<string, unknown>>): string {
  const { sig: _sig, ...unsigned } = body;
  return `${SIGNING_CONTEXT}${subject}\n${canonicalJson(unsigned)}`;
}

/** The body with `sig` (and `signer`, when the identity is not the body's own `publicKey`). */
export function signEvent(
  subject: string,
  body: Readonly<Record<string, unknown>>,
  identity: Identity,
): Record<string, unknown> {
  const signed: Record<string, unknown> = { ...body };
  delete signed.sig;
  if (signed.publicKey !== identity.publicKey) signed.signer = identity.publicKey;
  const sig = sign(null, Buffer.from(signingText(subject, signed), 'utf8'), identity.privateKey);
  return { ...signed, sig: sig.toString('base64url') };
}

/** Who signed an event body: its `signer`, else its `publicKey`. */
export function eventSigner(body: Readonly<Record<string, unknown>>): string | undefined {
  const signer = body.signer ?? body.publicKey;
  return typeof signer === 'string' && PUBLIC_KEY_PATTERN.test(signer) ? signer : undefined;
}

/**
 * What a verifier checks for an event (SignatureVerifier.verifyItems), or why it cannot be
 * checked at all (unsigned, no key, not canonicalisable).
 */
export function eventVerifyItem(
  subject: string,
  body: Readonly<Record<string, unknown>>,
): VerifyItem | string {
  const signer = eventSigner(body);
  if (signer === undefined) return 'the event names no signing key (publicKey or signer)';
  if (typeof body.sig !== 'string' || !SIGNATURE_PATTERN.test(body.sig)) {
    return 'the event is not signed (no sig)';
  }
  try {
    return { text: signingText(subject, body), sig: body.sig, signer };
  } catch (err) {
    return `the event cannot be checked: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Whether `body` is an event on `subject` signed by `signer` (checked inline: for rare events). */
export function isEventSignedBy(
  subject: string,
  body: Readonly<Record<string, unknown>>,
  signer: string,
): boolean {
  const item = eventVerifyItem(subject, body);
  return (
    typeof item !== 'string' &&
    item.signer === signer &&
    isValidSignatureOver(Buffer.from(item.text, 'utf8'), item.sig, signer)
  );
}

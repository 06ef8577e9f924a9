// NATS credentials files: a user JWT and its nkey seed in one file, nats-server's operator-mode login.

/** A `.creds` file, as `nsc generate creds` writes it (nats.js `credsAuthenticator` reads it). */
export function formatCreds(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}

// The thread behind SignatureVerifier (verifier.ts): checks batches of ed25519 signatures.
import { parentPort } from 'node:worker_threads';
import { isValidItem, type VerifyRequest, type VerifyResponse } from './verifier.js';

parentPort?.on('message', (req: VerifyRequest) => {
  const valid = req.items.map(isValidItem);
  const res: VerifyResponse = { seq: req.seq, valid };
  parentPort?.postMessage(res);
});

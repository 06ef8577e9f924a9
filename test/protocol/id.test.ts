import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isMessageId, messageIdTime, newMessageId } from '../../src/protocol/index.js';

describe('message ids', () => {
  test('ids are UUIDv7 carrying their creation time', () => {
    const id = newMessageId(1_700_000_000_123);
    assert.ok(isMessageId(id), id);
    assert.equal(messageIdTime(id), 1_700_000_000_123);
  });

  test('ids made in the same millisecond are unique and increasing', () => {
    const ids = Array.from({ length: 10_000 }, () => newMessageId(1_800_000_000_000));
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
  });

  test('the random bits of every id are fresh (none repeats over many refills of the pool)', () => {
    const tails = Array.from({ length: 20_000 }, (_, i) => newMessageId(1_800_000_000_000 + i));
    // The last 62 bits are random (variant bits aside): 20,000 draws never collide by chance.
    assert.equal(new Set(tails.map((id) => id.slice(19))).size, tails.length);
  });
});

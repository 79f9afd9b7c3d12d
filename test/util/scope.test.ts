import { describe, expect, it } from 'vitest';
import { CleanupError } from '../../src/errors.js';
import { ResourceScope } from '../../src/util/scope.js';

describe('ResourceScope', () => {
  it('releases in reverse order and reports no failure when all went', async () => {
    const order: string[] = [];
    const scope = new ResourceScope();
    scope.defer('remove a', async () => void order.push('a'));
    scope.defer('remove b', async () => void order.push('b'));
    await scope.release();
    expect(order).toEqual(['b', 'a']);
    expect(scope.releaseFailure()).toBeUndefined();
  });

  it('keeps releasing after a failure and names every failure in one CleanupError with a hint', async () => {
    const released: string[] = [];
    const scope = new ResourceScope();
    scope.defer('detach /dev/loop7', async () => void released.push('loop'));
    scope.defer('unmount /tmp/m1', () => Promise.reject(new Error('target is busy')));
    scope.defer('unmount /tmp/m2', () => Promise.reject(new Error('not mounted')));
    await scope.release();
    expect(released).toEqual(['loop']);
    const failure = scope.releaseFailure();
    expect(failure).toBeInstanceOf(CleanupError);
    expect(failure!.message).toBe('could not unmount /tmp/m2, unmount /tmp/m1: not mounted');
    expect(failure!.hint).toMatch(/findmnt.*losetup/);
    expect(failure!.exitCode).toBe(1);
  });
});

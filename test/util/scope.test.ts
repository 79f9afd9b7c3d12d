import { describe, expect, it } from 'vitest';
import { CleanupError } from '../../src/errors.js';
import { ResourceScope, withScope } from '../../src/util/scope.js';

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

describe('withScope', () => {
  it('returns what fn returns when everything was released', async () => {
    const released: string[] = [];
    expect(await withScope(async (scope) => (scope.defer('remove a', () => void released.push('a')), 42))).toBe(42);
    expect(released).toEqual(['a']);
  });

  it('fails a call that succeeded with one CleanupError when a release failed', async () => {
    const failed = withScope(async (scope) => {
      scope.defer('unmount ROOT', () => {
        throw new Error('target is busy');
      });
      return 'published';
    });
    await expect(failed).rejects.toBeInstanceOf(CleanupError);
    await expect(failed).rejects.toThrow('could not unmount ROOT: target is busy');
  });

  it("keeps a failed call's own error and tells onReleaseError what was left", async () => {
    const told: string[] = [];
    const failed = withScope(
      async (scope) => {
        scope.defer('detach /dev/loop7', () => {
          throw new Error('busy');
        });
        throw new Error('inject failed');
      },
      (what) => told.push(what),
    );
    await expect(failed).rejects.toThrow('inject failed');
    expect(told).toEqual(['detach /dev/loop7']);
  });
});

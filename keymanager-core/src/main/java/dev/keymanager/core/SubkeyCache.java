package dev.keymanager.core;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * The bound on unwrap subkeys across every cached KEK of one key manager: a count of subkeys (each
 * holds its 32 bytes and the AES-GCM ciphers keyed with them), evicting by the CLOCK algorithm (a
 * second chance for every subkey used since the hand last passed it), whichever KEK they came from.
 * An unwrap hit finds its subkey by salt in this cache's {@link SaltIndex}, which also holds every
 * KEK's wrap subkey; a KEK's own index ({@link KekSubkeys}) serves the path that retains the entry.
 * This cache decides which unwrap subkeys stay, and tells the owning KEK when one goes.
 *
 * <p>The subkeys sit in a dense ring (an array of subkeys and one of their owners, 8 bytes per
 * subkey); each subkey knows its place. A hit sets the subkey's {@code referenced} bit if it was
 * clear, so a subkey in steady use costs the hot path one read of a field it already reads, and no
 * shared write. Adding one past the bound sweeps the hand: a referenced subkey loses its bit and
 * stays, the first unreferenced one goes. The evicted subkey's idle cipher is re-keyed for the
 * subkey that replaces it ({@link SubkeyCiphers#adoptCipherOf}), so a miss pays one AES key set-up.
 * Adding, evicting and removing take this cache's lock; they happen on a subkey miss, a derivation
 * already costing microseconds.
 *
 * <p>Never call into this cache while holding a {@link KekSubkeys} lock: eviction calls back into
 * the owner ({@link KekSubkeys#evicted}), which takes its lock.
 */
final class SubkeyCache {
  /** The default bound; the builder's {@code maximumCachedSubkeys}. */
  static final long DEFAULT_MAXIMUM = 20_000;

  private static final int INITIAL = 16;

  private final int maximum;
  private final LongAdder derivations = new LongAdder();
  private final SaltIndex index = new SaltIndex();
  private CachedKek.Subkey[] ring = new CachedKek.Subkey[INITIAL]; // guarded by this
  private KekSubkeys[] owners = new KekSubkeys[INITIAL]; // guarded by this; owners[i] of ring[i]
  private int size; // guarded by this
  private int hand; // guarded by this

  SubkeyCache(long maximum) {
    if (maximum < 1) {
      throw new IllegalArgumentException("at least one subkey: " + maximum);
    }
    this.maximum = (int) Math.min(maximum, Integer.MAX_VALUE - 8);
  }

  /**
   * Counts {@code subkey}, indexed by {@code owner}; evicts another (its own KEK's or another's) if
   * the bound is reached, handing its idle cipher to {@code subkey}.
   */
  void add(CachedKek.Subkey subkey, KekSubkeys owner) {
    derivations.increment();
    CachedKek.Subkey victim = null;
    KekSubkeys victimOwner = null;
    synchronized (this) {
      if (size >= maximum) {
        int at = victim();
        victim = ring[at];
        victimOwner = owners[at];
        removeAt(at);
      }
      if (size == ring.length) {
        resize(Math.min(maximum, Math.max(INITIAL, ring.length * 2)));
      }
      ring[size] = subkey;
      owners[size] = owner;
      subkey.ringIndex = size;
      size++;
      index.add(subkey);
    }
    if (victim != null) {
      subkey.adoptCipherOf(victim);
      victimOwner.evicted(victim);
    }
  }

  /**
   * Every live subkey of this key manager's KEKs, these unwrap subkeys and each KEK's wrap subkey,
   * by salt: where an unwrap hit finds its subkey.
   */
  SaltIndex index() {
    return index;
  }

  /** Reports a hit on {@code subkey}: sets its bit, writing only if it was clear. */
  void touch(CachedKek.Subkey subkey) {
    if (!subkey.referenced) {
      subkey.referenced = true;
    }
  }

  /** Forgets subkeys whose KEK is being wiped (which drops them itself). */
  synchronized void removeAll(List<CachedKek.Subkey> subkeys) {
    for (CachedKek.Subkey s : subkeys) {
      int at = s.ringIndex;
      if (at >= 0 && at < size && ring[at] == s) {
        removeAt(at);
      }
    }
    if (ring.length > INITIAL && size < ring.length / 4) {
      resize(Math.max(INITIAL, ring.length / 2));
    }
  }

  /** How many unwrap subkeys were derived and added so far, for tests. */
  @VisibleForTesting
  long derivations() {
    return derivations.sum();
  }

  /** The number of unwrap subkeys held, for tests and sizing. */
  synchronized long size() {
    return size;
  }

  /**
   * The place of the subkey to evict: the hand's first unreferenced one, clearing bits on the way.
   */
  private int victim() {
    // Two sweeps clear every bit, unless hits keep setting them meanwhile: then the hand's pick.
    for (int swept = 0; ; swept++) {
      if (hand >= size) {
        hand = 0;
      }
      CachedKek.Subkey s = ring[hand];
      if (!s.referenced || swept > 2 * size) {
        return hand;
      }
      s.referenced = false;
      hand++;
    }
  }

  /** Takes the subkey at {@code at} out of the ring, moving the last one into its place. */
  private void removeAt(int at) {
    index.remove(ring[at]);
    ring[at].ringIndex = -1;
    int last = --size;
    if (at != last) {
      ring[at] = ring[last];
      owners[at] = owners[last];
      ring[at].ringIndex = at;
    }
    ring[last] = null;
    owners[last] = null;
  }

  private void resize(int length) {
    ring = Arrays.copyOf(ring, length);
    owners = Arrays.copyOf(owners, length);
  }
}

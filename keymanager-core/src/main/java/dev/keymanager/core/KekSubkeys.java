package dev.keymanager.core;

import dev.keymanager.KekRef;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.Randoms;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The subkeys derived from one KEK version: the one this process wraps under (its salt, nonce
 * prefix and counter) and the unwrap subkeys for salts other writers picked. Shared by the
 * successive cache entries of that version, so a refresh, which unwraps the same KEK bytes again,
 * keeps them all ({@link CachedKek#adoptSubkeys}); wiped with the last entry that holds them, so no
 * subkey outlives its KEK (a revocation, denial, state change, hard TTL, eviction or close wipes
 * the KEK's subkeys with it).
 *
 * <p>Each {@link CachedKek} holding this counts one holder; the entry's own wipe (its last lease
 * released after the cache dropped it) releases its hold, and the last release wipes every subkey.
 * How many unwrap subkeys stay is decided across all KEKs by the {@link SubkeyCache}; this class
 * only indexes them, in a copy-on-write open-addressing table keyed by the salt's first 8 bytes,
 * for the path that retains the entry (an unwrap hit finds its subkey in the {@link SaltIndex}).
 */
final class KekSubkeys {
  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INTS =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);
  private static final CachedKek.Subkey[] EMPTY = new CachedKek.Subkey[0];
  private static final VarHandle HOLDERS;

  static {
    try {
      HOLDERS = MethodHandles.lookup().findVarHandle(KekSubkeys.class, "holders", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  final KekRef ref;
  private final Jca jca;
  private final SubkeyCache cache;
  private volatile CachedKek holder; // the entry the cache installed last with these; see holder()
  private volatile int holders = 1; // entries holding these; HOLDERS
  private volatile CachedKek.WrapSubkey wrap; // created on first wrap
  private volatile CachedKek.Subkey[] table = EMPTY; // replaced, never written, under this
  private int count; // guarded by this
  private boolean wiped; // guarded by this

  KekSubkeys(KekRef ref, Jca jca, SubkeyCache cache) {
    this.ref = ref;
    this.jca = jca;
    this.cache = cache;
  }

  /**
   * The cache entry installed last with these subkeys, or null before the first install: the entry
   * an unwrap hit checks. Current exactly while the cache holds it, since the cache flags an entry
   * before it lets it go (and a refresh installs its successor before flagging it).
   */
  CachedKek holder() {
    return holder;
  }

  /** Called by the cache as it installs {@code entry}, which holds these subkeys. */
  void installedIn(CachedKek entry) {
    holder = entry;
  }

  /** Adds a holder (a refreshed entry adopting these); false once they are wiped. */
  boolean tryRetain() {
    for (int n = holders; n != 0; n = holders) {
      if (HOLDERS.compareAndSet(this, n, n + 1)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Ends a holder's hold; the last one wipes every subkey (none is retained by then; an unwrap hit
   * that has a cipher out scrubs it as it gives it back).
   */
  void release() {
    int left = (int) HOLDERS.getAndAdd(this, -1) - 1;
    if (left < 0) {
      throw new IllegalStateException("released more often than retained");
    }
    if (left == 0) {
      wipe();
    }
  }

  boolean isWiped() {
    return holders == 0;
  }

  /** This process's current wrap subkey, rolling to a new salt when {@code seen} is exhausted. */
  CachedKek.WrapSubkey wrapSubkey(byte[] kek) {
    CachedKek.WrapSubkey current = wrap;
    return current != null && !current.exhausted() ? current : rollOver(current, kek);
  }

  private synchronized CachedKek.WrapSubkey rollOver(CachedKek.WrapSubkey seen, byte[] kek) {
    CachedKek.WrapSubkey current = wrap;
    if (current != seen && current != null && !current.exhausted()) {
      return current;
    }
    if (wiped) {
      throw new IllegalStateException("subkeys used after their KEK was wiped");
    }
    byte[] salt = Randoms.bytes(CachedKek.SALT_LENGTH);
    byte[] prefix = Randoms.bytes(4);
    CachedKek.WrapSubkey next =
        new CachedKek.WrapSubkey(
            salt, derive(kek, salt), jca, (int) INTS.get(prefix, 0), this); // not secret
    wrap = next;
    cache.index().add(next); // this process reads what it wrote through the same index
    if (current != null) {
      cache.index().remove(current);
      current.drop(); // the wrap position's hold; wraps in flight finish first
    }
    return next;
  }

  /**
   * The subkey for the salt at {@code saltOffset} of {@code encoded}, retained: this process's wrap
   * subkey, an indexed one, or a new derivation that is indexed and counted by the {@link
   * SubkeyCache} (which may evict another). The caller holds an entry that holds these subkeys.
   */
  CachedKek.Subkey unwrapSubkey(byte[] kek, byte[] encoded, int saltOffset) {
    long prefix = (long) LONGS.get(encoded, saltOffset);
    for (; ; ) {
      CachedKek.Subkey found = find(encoded, saltOffset, prefix);
      if (found == null) {
        return install(kek, encoded, saltOffset, prefix);
      }
      if (found.tryRetain()) {
        return found;
      }
      // evicted and released between the lookup and the retain: look again
    }
  }

  private CachedKek.Subkey find(byte[] encoded, int saltOffset, long prefix) {
    CachedKek.WrapSubkey own = wrap;
    if (own != null && own.matches(encoded, saltOffset)) {
      return own;
    }
    CachedKek.Subkey[] t = table;
    if (t.length == 0) {
      return null;
    }
    int mask = t.length - 1;
    for (int i = slot(prefix, mask); ; i = (i + 1) & mask) {
      CachedKek.Subkey s = t[i];
      if (s == null) {
        return null;
      }
      if (s.prefix == prefix && s.matches(encoded, saltOffset)) {
        cache.touch(s);
        return s;
      }
    }
  }

  private CachedKek.Subkey install(byte[] kek, byte[] encoded, int saltOffset, long prefix) {
    byte[] salt = Arrays.copyOfRange(encoded, saltOffset, saltOffset + CachedKek.SALT_LENGTH);
    CachedKek.Subkey derived = new CachedKek.Subkey(salt, 0, derive(kek, salt), jca, this);
    derived.tryRetain(); // the caller's; a new subkey is never dropped yet
    synchronized (this) {
      if (wiped) {
        derived.drop(); // cannot happen while the caller holds an entry; one use, then wiped
        return derived;
      }
      CachedKek.Subkey raced = find(encoded, saltOffset, prefix);
      if (raced != null && raced.tryRetain()) {
        derived.release();
        derived.drop();
        return raced;
      }
      List<CachedKek.Subkey> all = live();
      all.add(derived);
      table = build(all);
      count = all.size();
    }
    cache.add(derived, this); // outside the lock: it may evict, which calls evicted()
    return derived;
  }

  /** The {@link SubkeyCache} let {@code subkey} go: unindex it and drop its hold. */
  void evicted(CachedKek.Subkey subkey) {
    synchronized (this) {
      List<CachedKek.Subkey> all = live();
      if (all.remove(subkey)) {
        table = build(all);
        count = all.size();
      }
    }
    subkey.drop(); // unwraps in flight on it finish first; the last release wipes it
  }

  /** The number of unwrap subkeys indexed, for tests. */
  synchronized int unwrapSubkeys() {
    return count;
  }

  private void wipe() {
    List<CachedKek.Subkey> all;
    CachedKek.WrapSubkey w;
    synchronized (this) {
      wiped = true;
      all = live();
      table = EMPTY;
      count = 0;
      w = wrap;
    }
    if (w != null) {
      cache.index().remove(w);
      w.drop();
    }
    for (CachedKek.Subkey s : all) {
      s.drop();
    }
    cache.removeAll(all);
  }

  private byte[] derive(byte[] kek, byte[] salt) {
    return Hkdf.deriveSha256(jca, kek, salt, CachedKek.SUBKEY_INFO, 32);
  }

  private List<CachedKek.Subkey> live() {
    List<CachedKek.Subkey> all = new ArrayList<>(count + 1);
    for (CachedKek.Subkey s : table) {
      if (s != null) {
        all.add(s);
      }
    }
    return all;
  }

  /** A table at most half full, so probes stay short (two slots for one subkey). */
  private static CachedKek.Subkey[] build(List<CachedKek.Subkey> all) {
    if (all.isEmpty()) {
      return EMPTY;
    }
    CachedKek.Subkey[] t = new CachedKek.Subkey[Integer.highestOneBit(2 * all.size() - 1) << 1];
    int mask = t.length - 1;
    for (CachedKek.Subkey s : all) {
      int i = slot(s.prefix, mask);
      while (t[i] != null) {
        i = (i + 1) & mask;
      }
      t[i] = s;
    }
    return t;
  }

  private static int slot(long prefix, int mask) {
    // Salts are random; a forged one only lengthens its own probe chain.
    return (int) (prefix ^ (prefix >>> 32)) & mask;
  }
}

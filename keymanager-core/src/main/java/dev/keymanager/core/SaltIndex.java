package dev.keymanager.core;

import dev.keymanager.KekRef;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Every live subkey of one key manager, unwrap and wrap alike, found by its salt and KEK: the first
 * step of an unwrap hit ({@link KekCache#derivedSubkey}), which so goes from the wrapped key's
 * bytes straight to the subkey, and from there to its ciphers and to the KEK's cache entry, instead
 * of through the cache's map and the KEK's own subkey index. Salts are 32 random bytes, so the
 * salt's first 8 bytes spread subkeys over the table without further hashing; a forged salt (copied
 * from another wrapped key under another KEK's name) only adds one more subkey to the same chain,
 * and a look-up checks the whole salt and the KEK before it answers.
 *
 * <p>An open-addressing table in two arrays: a 4-byte tag per slot (the low half of the salt's
 * prefix; the slot comes from both halves) and the subkeys, so a probe reads the tags' cache line
 * and only a matching slot's subkey, two loads the processor can make at once. 8 bytes per slot, at
 * most three quarters used. Reads take no lock and write nothing; additions and removals take this
 * index's lock (a leaf: nothing is called while it is held), on a subkey miss or a wipe. A removed
 * subkey leaves a marker that later additions reuse, and the table is rebuilt, into a new pair of
 * arrays, when live subkeys and markers fill three quarters of it. A reader may find a subkey that
 * has just ended (evicted, or its KEK wiped): the hit path checks {@link Lease#isEnded()} once it
 * holds a cipher, as it must anyway.
 */
final class SaltIndex {
  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Object[].class);
  private static final Object REMOVED = new Object();
  private static final int INITIAL = 16; // a power of two

  /** One generation of the table; replaced whole, never resized in place. */
  private static final class Table {
    final int[] tags; // the low half of each slot's salt prefix
    final Object[] subkeys; // null: never used (ends a probe); REMOVED; or a subkey

    Table(int capacity) {
      tags = new int[capacity];
      subkeys = new Object[capacity];
    }
  }

  private volatile Table table = new Table(INITIAL);
  private int live; // guarded by this
  private int used; // live subkeys and REMOVED markers; guarded by this

  /**
   * The subkey of KEK {@code kek} for the salt at {@code saltOffset} of {@code encoded}, not
   * retained (it may have ended), or null.
   */
  CachedKek.Subkey find(KekRef kek, byte[] encoded, int saltOffset) {
    long prefix = (long) LONGS.get(encoded, saltOffset);
    Table t = table;
    Object[] subkeys = t.subkeys;
    int mask = subkeys.length - 1;
    for (int i = slot(prefix, mask); ; i = (i + 1) & mask) {
      Object o = SLOT.getAcquire(subkeys, i);
      if (o == null) {
        return null;
      }
      if (t.tags[i] == tag(prefix) && o != REMOVED) {
        CachedKek.Subkey s = (CachedKek.Subkey) o;
        if (s.matches(encoded, saltOffset) && s.isOf(kek)) {
          return s;
        }
      }
    }
  }

  /** Indexes {@code subkey}, which has an owner. */
  synchronized void add(CachedKek.Subkey subkey) {
    Table t = table;
    if (used + 1 > t.subkeys.length / 4 * 3) {
      t = rebuild(live + 1);
    }
    if (put(t, subkey)) {
      used++;
    }
    live++;
  }

  /** Takes {@code subkey} out of the index, if it is in it. */
  synchronized void remove(CachedKek.Subkey subkey) {
    Table t = table;
    Object[] subkeys = t.subkeys;
    int mask = subkeys.length - 1;
    for (int i = slot(subkey.prefix, mask); subkeys[i] != null; i = (i + 1) & mask) {
      if (subkeys[i] == subkey) {
        SLOT.setRelease(subkeys, i, REMOVED);
        live--;
        if (subkeys.length > INITIAL && live < subkeys.length / 16) {
          rebuild(live);
        }
        return;
      }
    }
  }

  /** The number of subkeys indexed, for tests. */
  @VisibleForTesting
  synchronized int size() {
    return live;
  }

  /** Puts {@code subkey} in the first free slot of its chain; true if that slot was never used. */
  private static boolean put(Table t, CachedKek.Subkey subkey) {
    Object[] subkeys = t.subkeys;
    int mask = subkeys.length - 1;
    for (int i = slot(subkey.prefix, mask); ; i = (i + 1) & mask) {
      Object o = subkeys[i];
      if (o == null || o == REMOVED) {
        t.tags[i] = tag(subkey.prefix);
        SLOT.setRelease(subkeys, i, subkey); // a reader that sees it sees its tag
        return o == null;
      }
    }
  }

  /** Copies the live subkeys into a table at most half full with {@code room} of them. */
  private Table rebuild(int room) {
    int capacity = INITIAL;
    while (capacity < 2 * room) {
      capacity <<= 1;
    }
    Table next = new Table(capacity);
    for (Object o : table.subkeys) {
      if (o != null && o != REMOVED) {
        put(next, (CachedKek.Subkey) o);
      }
    }
    used = live;
    table = next;
    return next;
  }

  private static int tag(long prefix) {
    return (int) prefix;
  }

  private static int slot(long prefix, int mask) {
    return (int) (prefix ^ (prefix >>> 32)) & mask;
  }
}

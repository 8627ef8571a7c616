package dev.keymanager.core;

import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.LentKey;
import dev.keymanager.core.internal.Randoms;
import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;

/**
 * A few AES-GCM {@link Cipher}s keyed with one subkey, lent to one operation at a time: the base
 * class of {@link CachedKek.Subkey}, so a subkey, its bytes, its reference count and its ciphers
 * are one object, and that object is the {@link SecretKey} its ciphers are keyed with (an unwrap
 * reads no key object or key array beside it). It is never serialised.
 *
 * <p>Why not one cipher per thread: a JCE cipher keeps copies of the last key it was given (the
 * JDK's AES keeps the raw key and its expanded schedule; GCM keeps the last encryption key to
 * refuse IV reuse) until it is keyed again, and nobody can reach another thread's cipher to scrub
 * it. Ciphers that belong to a subkey can be scrubbed when the subkey is wiped ({@link
 * #wipeCiphers()}), and a cipher that stays keyed with one subkey skips the key expansion on every
 * init (about 1 µs on the machines we measured), which is what makes a working set of several hot
 * KEKs as cheap as one.
 *
 * <p>A subkey used by one thread keeps one cipher in a single field. Once a second thread has
 * retained the subkey (its {@link Lease} has grown its stripes), or a second cipher is given back
 * while that field is taken (two threads used the subkey at once), the pool grows into {@value
 * #SLOTS} padded slots, and from then on a thread takes a cipher starting from the slot its {@link
 * Probe} picks (threads with consecutive ids, as a pool's are, start at different slots), moving on
 * to the next slot when one is empty or another thread wins it, and puts it back after the
 * operation; with more threads than slots at once, the extra ones make a cipher and scrub it
 * afterwards. So the padding (four 33-slot arrays and the array of them, 640 bytes) is only paid by
 * subkeys that several threads use, where it keeps threads on different cores off each other's
 * cache line. No allocation in the steady state, two atomic operations per use. Memory: a keyed
 * AES-GCM cipher is about 0.8 KiB on JDK 17, so a subkey holds at most {@value #SLOTS} of them
 * (plus one), and only as many as threads have used it at once.
 */
abstract class SubkeyCiphers extends Lease implements SecretKey {
  private static final long serialVersionUID = 1L;
  private static final int SLOTS = 4; // a power of two
  // Each slot is an array of its own with the cipher in the middle, at index STRIDE, a cache line
  // from either end: threads on different cores taking and giving back their ciphers do not
  // invalidate each other's line, nor that of whatever lies beside the array. Its own array, and
  // not one padded array for all slots, because of where the garbage collector copies a cipher:
  // right after the first object it reached the cipher from, then the rest of the cipher's own
  // objects (which a JCE cipher writes on every init) depth first. From one shared array the
  // ciphers of two threads land one after the other, the last object of one beside the first of the
  // next, and two cores write one line on every operation; from arrays of their own, a cipher the
  // collector reaches through its slot follows that slot's padding (it may still reach two threads'
  // ciphers one after the other another way, from their stacks say). Measured: with the shared
  // array, CPU per unwrap on two threads rose 1.2 to 1.4 times over one thread in most forks, and
  // by nothing with a collector that never moves objects.
  private static final int STRIDE = 16; // compressed references per 64-byte cache line
  private static final int SLOT_LENGTH = 2 * STRIDE + 1;
  private static final int KEY_LENGTH = 32;
  private static final byte[] SCRUB_KEY = new byte[32];
  private static final LentKey SCRUB = LentKey.aes(SCRUB_KEY);
  private static final GCMParameterSpec SCRUB_IV =
      new GCMParameterSpec(128, new byte[CachedKek.NONCE_LENGTH]);
  private static final VarHandle SINGLE;
  private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Cipher[].class);
  // Big-endian, so that a heap dump (HPROF writes a long big-endian) shows the key's bytes in their
  // order, and a scan for them finds a subkey that was not wiped.
  private static final VarHandle KEY_WORDS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

  static {
    try {
      SINGLE = MethodHandles.lookup().findVarHandle(SubkeyCiphers.class, "single", Cipher.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final transient Jca jca;
  private transient volatile Cipher single; // the pool until a second thread uses the subkey
  private transient volatile Cipher[][] slots; // null until then; see STRIDE
  // The subkey itself, held in the words of this object rather than in an array beside it: one
  // cache line fewer per use. Overwritten by wipeKey().
  private transient long key0;
  private transient long key1;
  private transient long key2;
  private transient long key3;

  /**
   * Ciphers keyed with the AES-256 key {@code key}, made by {@code jca}; {@code key} is copied in
   * and then overwritten with zeros.
   */
  SubkeyCiphers(byte[] key, Jca jca) {
    if (key.length != KEY_LENGTH) {
      throw new IllegalArgumentException("a subkey is " + KEY_LENGTH + " bytes");
    }
    this.jca = jca;
    this.key0 = (long) KEY_WORDS.get(key, 0);
    this.key1 = (long) KEY_WORDS.get(key, 8);
    this.key2 = (long) KEY_WORDS.get(key, 16);
    this.key3 = (long) KEY_WORDS.get(key, 24);
    Arrays.fill(key, (byte) 0);
  }

  /**
   * Whether these ciphers may encrypt (a wrap subkey's); if not, only decryption ever keys them
   * with this key, and their scrub is the cheaper {@link #scrubDecryptOnly}.
   */
  abstract boolean encrypts();

  /** {@code "AES"}: this object is the key its ciphers are keyed with. */
  @Override
  public final String getAlgorithm() {
    return "AES";
  }

  @Override
  public final String getFormat() {
    return "RAW";
  }

  /**
   * A copy of the subkey's bytes, for the JCE provider keying a cipher; the provider owns the copy
   * (the JDK's overwrites it, or keeps it as the cipher's last key until the cipher is scrubbed).
   */
  @Override
  public final byte[] getEncoded() {
    byte[] copy = new byte[KEY_LENGTH];
    KEY_WORDS.set(copy, 0, key0);
    KEY_WORDS.set(copy, 8, key1);
    KEY_WORDS.set(copy, 16, key2);
    KEY_WORDS.set(copy, 24, key3);
    return copy;
  }

  /** Overwrites the subkey's bytes; called once the subkey has ended. */
  final void wipeKey() {
    key0 = 0;
    key1 = 0;
    key2 = 0;
    key3 = 0;
  }

  private void writeObject(ObjectOutputStream out) throws NotSerializableException {
    throw new NotSerializableException("key material is never serialised");
  }

  /**
   * A cipher for this subkey, to be {@link #give given} back after one operation; the caller has
   * retained this subkey, or (the unwrap hit path, {@link DekCipher#unwrapIfDerived}) holds the
   * cipher alone and checks {@link #isEnded()} around the operation, since the subkey may then end
   * and overwrite its key while the cipher is out.
   */
  final Cipher take() {
    if (slots == null && stripes() != null) {
      grow(); // a second thread: from now on each gives its cipher back to a slot of its own
    }
    Cipher c = single; // after growing, only drained: a read of a line nobody writes
    if (c != null && SINGLE.compareAndSet(this, c, null)) {
      return c;
    }
    Cipher[][] striped = slots;
    if (striped != null) {
      int start = slot();
      for (int i = 0; i < SLOTS; i++) {
        Cipher[] slot = striped[(start + i) & (SLOTS - 1)];
        c = (Cipher) SLOT.getVolatile(slot, STRIDE);
        if (c != null && SLOT.compareAndSet(slot, STRIDE, c, null)) {
          return c;
        }
      }
    }
    return newCipher();
  }

  /** Returns {@code c} to the pool, or scrubs it if there is no room or the subkey is wiped. */
  final void give(Cipher c) {
    if (!isEnded()) {
      Cipher[][] striped = slots;
      if (striped == null) {
        if (SINGLE.compareAndSet(this, null, c)) {
          if (isEnded() && SINGLE.compareAndSet(this, c, null)) {
            retire(c); // wipeCiphers() ran meanwhile and missed it
          }
          return;
        }
        striped = grow(); // a second cipher: two threads used this subkey at once
      }
      int start = slot();
      for (int i = 0; i < SLOTS; i++) {
        Cipher[] slot = striped[(start + i) & (SLOTS - 1)];
        if (SLOT.getVolatile(slot, STRIDE) == null && SLOT.compareAndSet(slot, STRIDE, null, c)) {
          if (isEnded() && SLOT.compareAndSet(slot, STRIDE, c, null)) {
            break; // wipeCiphers() ran meanwhile and missed it: scrub it here
          }
          return;
        }
      }
    }
    retire(c);
  }

  /**
   * Takes over an idle cipher of {@code evicted}, a decrypt-only subkey that is about to be
   * dropped, re-keying it with this one's key for decryption: that init overwrites the evicted
   * key's schedule as its scrub would, and leaves this subkey a cipher already keyed, so a subkey
   * that replaces another pays for one AES key set-up, not two. Nothing if {@code evicted} has no
   * idle cipher.
   */
  final void adoptCipherOf(SubkeyCiphers evicted) {
    if (encrypts() || evicted.encrypts()) {
      return;
    }
    Cipher c = evicted.single;
    if (c == null || !SINGLE.compareAndSet(evicted, c, null)) {
      return;
    }
    try {
      c.init(Cipher.DECRYPT_MODE, this, SCRUB_IV);
    } catch (GeneralSecurityException e) {
      evicted.retire(c);
      return;
    }
    give(c);
  }

  private synchronized Cipher[][] grow() {
    Cipher[][] striped = slots;
    if (striped == null) {
      striped = new Cipher[SLOTS][];
      for (int i = 0; i < SLOTS; i++) {
        striped[i] = new Cipher[SLOT_LENGTH];
      }
      slots = striped; // published with its slots
    }
    return striped;
  }

  /**
   * Scrubs every pooled cipher. Called when the subkey's last holder releases it; an unwrap hit,
   * which holds a cipher and no count, may still have one out: {@link #give} scrubs that one, since
   * the subkey has ended by then.
   */
  final void wipeCiphers() {
    Cipher c = (Cipher) SINGLE.getAndSet(this, (Cipher) null);
    if (c != null) {
      retire(c);
    }
    Cipher[][] striped = slots;
    if (striped != null) {
      for (Cipher[] slot : striped) {
        c = (Cipher) SLOT.getAndSet(slot, STRIDE, (Cipher) null);
        if (c != null) {
          retire(c);
        }
      }
    }
  }

  /** Whether two threads have used this subkey at once (the pool has its padded slots). */
  @VisibleForTesting
  final boolean hasCipherSlots() {
    return slots != null;
  }

  private static int slot() {
    return Probe.slot(SLOTS);
  }

  private Cipher newCipher() {
    return jca.aesGcm();
  }

  /** Scrubs {@code c} and hands it back to the {@link Jca} for the next subkey's pool. */
  private void retire(Cipher c) {
    if (encrypts()) {
      scrub(c);
    } else {
      scrubDecryptOnly(c);
    }
    jca.recycle(c);
  }

  /**
   * Re-keys {@code c} with an all-zero key for decryption, under a fixed IV: replaces the AES key
   * and schedule, and leaves GCM's last encryption key as it was, which for a cipher that only
   * decrypted under this subkey is not this subkey (a scrubbed pool cipher's all-zero key, or
   * none). No random IV: GCM refuses a repeated IV only for encryption.
   */
  static void scrubDecryptOnly(Cipher c) {
    try {
      c.init(Cipher.DECRYPT_MODE, SCRUB, SCRUB_IV);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("could not scrub an AES-GCM cipher", e);
    }
  }

  /**
   * Re-keys {@code c} with an all-zero key for encryption, which replaces both copies a JDK cipher
   * keeps: the AES key and schedule, and GCM's last encryption key. A fresh random IV each time, so
   * GCM's IV-reuse check never refuses.
   */
  static void scrub(Cipher c) {
    try {
      c.init(
          Cipher.ENCRYPT_MODE,
          LentKey.aes(SCRUB_KEY),
          new GCMParameterSpec(128, Randoms.bytes(CachedKek.NONCE_LENGTH)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("could not scrub an AES-GCM cipher", e);
    }
  }
}

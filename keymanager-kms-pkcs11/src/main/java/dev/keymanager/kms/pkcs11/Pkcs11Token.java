package dev.keymanager.kms.pkcs11;

import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.AuthProvider;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.Provider;
import java.security.ProviderException;
import java.security.Security;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

/**
 * One configured token: a SunPKCS11 instance for its slot, logged in with its PIN, and a bounded
 * pool of sessions for the key operations.
 *
 * <p><b>Sessions.</b> SunPKCS11 owns the PKCS#11 sessions: a {@link Cipher} of the provider takes
 * one from SunPKCS11's own session manager for each operation and returns it at {@code doFinal}.
 * What this class bounds is how many operations run on the token at once, {@code maxSessions}, and
 * so how many sessions the token must hold for us; each slot of the pool is a {@link Cipher} used
 * by one thread at a time (neither PKCS#11 sessions nor JCA ciphers are thread-safe). A caller
 * waits at most {@code sessionTimeout} for a free slot, then fails with {@link
 * KmsUnavailableException}. PKCS#11 login is per token and process (every session of the process
 * shares it), so one {@code C_Login} serves the whole pool.
 *
 * <p><b>Re-login.</b> When the token answers an operation with {@code CKR_OBJECT_HANDLE_INVALID},
 * {@code CKR_KEY_HANDLE_INVALID}, {@code CKR_USER_NOT_LOGGED_IN}, {@code
 * CKR_SESSION_HANDLE_INVALID} or {@code CKR_SESSION_CLOSED} (it dropped the login or the sessions;
 * the key's handle died with them), the token logs in again, looks the key object up again and
 * retries once. A key object that is then not found has been deleted: {@link
 * KeyAccessDeniedException}. After {@code CKR_DEVICE_REMOVED}, {@code CKR_TOKEN_NOT_PRESENT} or
 * {@code CKR_SLOT_ID_INVALID} the SunPKCS11 instance is dropped and a new one opened at the next
 * call.
 */
final class Pkcs11Token implements AutoCloseable {
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final String label;
  private final Path library;
  private final long slot;
  private final char[] pin; // owned; wiped by close()
  private final int maxSessions;
  private final Duration sessionTimeout;
  private final Semaphore sessions;
  private final Map<String, SecretKey> keys = new ConcurrentHashMap<>(); // by object label

  private Opened opened; // guarded by this
  private boolean closed; // guarded by this

  // Test seams and counters: operations sent to the token, logins, session waits that timed out.
  final AtomicLong encrypts = new AtomicLong();
  final AtomicLong decrypts = new AtomicLong();
  final AtomicLong logins = new AtomicLong();
  final AtomicLong relogins = new AtomicLong();
  final AtomicInteger inUse = new AtomicInteger();
  final AtomicInteger peakInUse = new AtomicInteger();
  volatile Runnable afterSessionWaitTimedOut = () -> {};

  /** A SunPKCS11 instance for the slot, logged in, and the ciphers free for reuse on it. */
  private record Opened(Provider provider, KeyStore keyStore, ConcurrentLinkedQueue<Cipher> free) {}

  /** An operation on one borrowed cipher and the key object. */
  @FunctionalInterface
  interface KeyOperation {
    byte[] apply(Cipher cipher, SecretKey key) throws GeneralSecurityException;
  }

  Pkcs11Token(
      String label, Path library, long slot, char[] pin, int maxSessions, Duration timeout) {
    this.label = label;
    this.library = library;
    this.slot = slot;
    this.pin = pin.clone();
    this.maxSessions = maxSessions;
    this.sessionTimeout = timeout;
    this.sessions = new Semaphore(maxSessions, true);
  }

  String label() {
    return label;
  }

  long slot() {
    return slot;
  }

  /**
   * Runs {@code operation} with the key object labelled {@code object} on a pooled cipher, logging
   * in again and retrying once if the token dropped the login or sessions.
   *
   * @param what the operation and CMK, for messages: "unwrap with pkcs11 CMK pkcs11:..."
   */
  byte[] withKey(String object, String what, boolean decrypt, KeyOperation operation) {
    String lastCode = null; // what made the first attempt log in again, if it did
    for (int attempt = 1; ; attempt++) {
      acquire(what);
      peakInUse.accumulateAndGet(inUse.incrementAndGet(), Math::max);
      Opened o = null;
      Cipher cipher = null;
      boolean reusable = false;
      try {
        o = open(what);
        cipher = o.free().poll();
        if (cipher == null) {
          cipher = Cipher.getInstance("AES/GCM/NoPadding", o.provider());
        }
        SecretKey key = key(o, object, what, lastCode);
        (decrypt ? decrypts : encrypts).incrementAndGet();
        byte[] result = operation.apply(cipher, key);
        reusable = true;
        return result;
      } catch (GeneralSecurityException | ProviderException e) {
        Optional<String> code = Pkcs11Errors.code(e);
        if (!(e instanceof AEADBadTagException) && code.isPresent() && o != null) {
          if (attempt == 1 && Pkcs11Errors.RELOGIN.contains(code.get())) {
            keys.remove(object);
            lastCode = code.get();
            relogin(o, what);
            continue;
          }
          if (Pkcs11Errors.REOPEN.contains(code.get())) {
            drop(o);
          }
        }
        throw Pkcs11Errors.map(what, e);
      } finally {
        if (reusable && current(o)) {
          o.free().offer(cipher);
        }
        inUse.decrementAndGet();
        sessions.release();
      }
    }
  }

  /**
   * Generates an AES-256 key object labelled {@code object} on the token: a token object, {@code
   * CKA_SENSITIVE}, not {@code CKA_EXTRACTABLE}, with {@code CKA_ENCRYPT} and {@code CKA_DECRYPT}.
   */
  void generate(String object, String what) {
    acquire(what);
    try {
      Opened o = open(what);
      synchronized (o.keyStore()) {
        login(o.keyStore(), what); // lists the token's labels anew
        if (o.keyStore().containsAlias(object)) {
          throw new KeyManagerConfigException(
              what + " failed: the token already holds an object labelled '" + object + "'");
        }
        KeyGenerator generator = KeyGenerator.getInstance("AES", o.provider());
        generator.init(256);
        // The generate template makes a session object; storing it copies it to a token object
        // with the label, so the token holds exactly one object.
        o.keyStore().setEntry(object, new KeyStore.SecretKeyEntry(generator.generateKey()), null);
      }
    } catch (GeneralSecurityException | ProviderException e) {
      throw Pkcs11Errors.map(what, e);
    } finally {
      sessions.release();
    }
  }

  /** Logs out (for the whole process: PKCS#11 login is per token), wipes the PIN. Idempotent. */
  @Override
  public void close() {
    Opened o;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      o = opened;
      opened = null;
      Arrays.fill(pin, '\0');
    }
    keys.clear();
    if (o != null) {
      try {
        ((AuthProvider) o.provider()).logout();
      } catch (GeneralSecurityException | ProviderException e) {
        // Logging out of a token that is gone: nothing left to release.
      }
    }
  }

  /** Whether {@link #close()} has overwritten the PIN; a seam for tests. */
  @VisibleForTesting
  synchronized boolean pinWiped() {
    for (char c : pin) {
      if (c != '\0') {
        return false;
      }
    }
    return closed;
  }

  /** The SunPKCS11 instance in use, if open; a seam for tests. */
  @VisibleForTesting
  synchronized Optional<Provider> provider() {
    return Optional.ofNullable(opened).map(Opened::provider);
  }

  /** Takes all free sessions and holds them until {@link #releaseSessions(int)}; for tests. */
  @VisibleForTesting
  int occupyAllSessions() {
    return sessions.drainPermits();
  }

  @VisibleForTesting
  void releaseSessions(int n) {
    sessions.release(n);
  }

  @Override
  public String toString() {
    return "token '" + label + "' (slot " + slot + ", " + maxSessions + " sessions)";
  }

  private void acquire(String what) {
    boolean acquired;
    try {
      acquired = sessions.tryAcquire(sessionTimeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KmsUnavailableException(what + " was interrupted waiting for a session", e);
    }
    if (!acquired) {
      afterSessionWaitTimedOut.run();
      throw new KmsUnavailableException(
          what
              + " timed out: none of the "
              + maxSessions
              + " sessions of "
              + this
              + " came free within "
              + sessionTimeout
              + " (raise maxSessions if the token allows more, or look for a stuck HSM)");
    }
  }

  private synchronized Opened open(String what) throws GeneralSecurityException {
    if (closed) {
      throw new IllegalStateException("Pkcs11KmsProvider is closed");
    }
    if (opened != null) {
      return opened;
    }
    if (!Files.isRegularFile(library)) {
      throw new KeyManagerConfigException(
          what + " failed: the PKCS#11 library " + library + " does not exist");
    }
    Provider provider;
    try {
      provider = Security.getProvider("SunPKCS11").configure(configuration());
    } catch (ProviderException | IllegalArgumentException e) {
      throw Pkcs11Errors.map(what + " could not open " + this, e);
    }
    KeyStore keyStore = KeyStore.getInstance("PKCS11", provider);
    login(keyStore, what);
    opened = new Opened(provider, keyStore, new ConcurrentLinkedQueue<>());
    return opened;
  }

  private void login(KeyStore keyStore, String what) {
    try {
      keyStore.load(null, pin); // C_Login as the user, unless the process is logged in already
      logins.incrementAndGet();
    } catch (IOException | GeneralSecurityException | ProviderException e) {
      throw Pkcs11Errors.map(what + ": login to " + this, e);
    }
  }

  private void relogin(Opened o, String what) {
    synchronized (this) {
      if (opened != o) {
        return; // dropped or reopened meanwhile: the next attempt opens and logs in anew
      }
      relogins.incrementAndGet();
      synchronized (o.keyStore()) {
        login(o.keyStore(), what);
      }
    }
  }

  private synchronized void drop(Opened o) {
    if (opened == o) {
      opened = null;
      keys.clear();
    }
  }

  private synchronized boolean current(Opened o) {
    return o != null && opened == o;
  }

  private SecretKey key(Opened o, String object, String what, String afterCode)
      throws GeneralSecurityException {
    SecretKey cached = keys.get(object);
    if (cached != null) {
      return cached;
    }
    Key key;
    synchronized (o.keyStore()) {
      // SunPKCS11's key store answers from the labels it listed at its last load, so list them
      // anew (this also logs in again if the token dropped the login).
      login(o.keyStore(), what);
      key = o.keyStore().getKey(object, null);
    }
    if (key == null) {
      throw new KeyAccessDeniedException(
          what
              + " was refused: "
              + this
              + " holds no key object labelled '"
              + object
              + "' visible to the user (deleted, or never created on this token): "
              + (afterCode == null
                  ? "C_FindObjects found none"
                  : "the key's handle failed with "
                      + afterCode
                      + " and after a new login C_FindObjects found none"));
    }
    if (!(key instanceof SecretKey secret) || !"AES".equalsIgnoreCase(key.getAlgorithm())) {
      throw new KeyAccessDeniedException(
          what + " was refused: the object labelled '" + object + "' is not an AES secret key");
    }
    if (key.getEncoded() != null) {
      // SunPKCS11 hands out the value of a key that is neither sensitive nor unextractable.
      throw new KeyAccessDeniedException(
          what
              + " was refused: the key object labelled '"
              + object
              + "' would release its value (it is neither CKA_SENSITIVE nor unextractable);"
              + " a CMK must never leave the token");
    }
    keys.put(object, secret);
    return secret;
  }

  private String configuration() {
    String name =
        "keymanager-"
            + label.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]", "")
            + "-"
            + INSTANCES.incrementAndGet();
    return "--name = "
        + name
        + "\nlibrary = \""
        + library.toAbsolutePath()
        + "\"\nslot = "
        + slot
        + "\nattributes(generate, CKO_SECRET_KEY, CKK_AES) = {\n"
        + "  CKA_TOKEN = false\n"
        + "  CKA_SENSITIVE = true\n"
        + "  CKA_EXTRACTABLE = false\n"
        + "  CKA_ENCRYPT = true\n"
        + "  CKA_DECRYPT = true\n"
        + "}\n";
  }
}

package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekDescription;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.core.internal.Randoms;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The KEK lifecycle steps of {@link dev.keymanager.KeyManager} that make or re-wrap key material:
 * create, import, rotate and change of CMK; the KEK-wide state changes are in {@link
 * KekStateChanges}. The transitions are tabled in {@code KeyManager}'s javadoc.
 *
 * <p>Every change is a compare-and-set on one record's revision. Concurrent rotations each create
 * their own version: the store lets one writer create each, the loser re-reads and rotates past it.
 * A rotation checks the previous primary after creating its version and, if a state change (a
 * disable, a scheduled destruction) landed there meanwhile, makes the new version follow it and
 * fails, so that change is not lost. What remains is the instant between those two writes: a
 * process killed there leaves a new enabled version after a disable that had already returned;
 * running the disable again fixes it.
 *
 * <p>New versions go into the cache ({@link KekCache}) at once, so their first use needs no KMS
 * call, and the key manager's primary-version lookup is told of every change.
 */
final class KekLifecycle {
  private static final Logger log = LoggerFactory.getLogger(KekLifecycle.class);

  /** Compare-and-set conflicts on one record before giving up with a retryable store failure. */
  static final int MAX_ATTEMPTS = 1000;

  private final KekStore store;
  private final KmsRegistry kms;
  private final KekCache cache;
  private final KmsAudit audit;
  private final InstantSource clock;
  private final Consumer<String> primaryChanged;

  KekLifecycle(
      KekStore store,
      KmsRegistry kms,
      KekCache cache,
      KmsAudit audit,
      InstantSource clock,
      Consumer<String> primaryChanged) {
    this.store = store;
    this.kms = kms;
    this.cache = cache;
    this.audit = audit;
    this.clock = clock;
    this.primaryChanged = primaryChanged;
  }

  // ---------------------------------------------------------------- new versions

  KeyEncryptionKey create(String kekId, URI cmkUri) {
    KekRef.checkId(kekId);
    requireNonNull(cmkUri, "cmkUri");
    return audit.step(
        AuditEvent.Type.CREATE,
        kekId,
        note -> {
          note.version(1).cmk(cmkUri);
          KmsWrapper wrapper = wrapper(cmkUri, kekId, "creating");
          List<KeyEncryptionKey> existing = store.versions(kekId);
          if (!existing.isEmpty()) {
            KekState state = last(existing).state();
            throw new KekStateException(
                kekId, state, "KEK " + kekId + " exists already (" + state + ")");
          }
          return newVersion(new KekRef(kekId, 1), cmkUri, wrapper)
              .orElseThrow(
                  () ->
                      new KekStateException(
                          kekId,
                          KekState.ENABLED,
                          "KEK " + kekId + " was created concurrently by another writer"));
        });
  }

  KeyEncryptionKey importKek(KekRef ref, URI cmkUri, byte[] wrappedMaterial) {
    requireNonNull(ref, "ref");
    requireNonNull(cmkUri, "cmkUri");
    byte[] material = requireNonNull(wrappedMaterial, "wrappedMaterial").clone();
    if (material.length == 0) {
      throw new IllegalArgumentException("wrapped material of KEK " + ref + " is empty");
    }
    return audit.step(
        AuditEvent.Type.IMPORT,
        ref.id(),
        note -> {
          note.version(ref.version()).cmk(cmkUri);
          List<KeyEncryptionKey> versions = store.versions(ref.id());
          KeyEncryptionKey previous = versions.isEmpty() ? null : last(versions);
          checkImportable(ref, previous);
          KmsUnwrapper unwrapper = kms.unwrapper(cmkUri);
          byte[] plaintext =
              audit.call(
                  "unwrap",
                  ref,
                  cmkUri,
                  () -> unwrapper.unwrap(material, DefaultKeyManager.kekContext(ref)));
          if (plaintext.length != DefaultKeyManager.KEK_LENGTH) {
            Arrays.fill(plaintext, (byte) 0);
            throw new InvalidCiphertextException(
                "Imported material for KEK "
                    + ref
                    + " unwraps to "
                    + plaintext.length
                    + " bytes under "
                    + cmkUri
                    + "; a KEK is "
                    + DefaultKeyManager.KEK_LENGTH
                    + " random bytes");
          }
          byte[] owned = plaintext; // overwritten below unless the cache takes it
          try {
            KeyEncryptionKey record = record(ref, cmkUri, material);
            if (!store.create(record)) {
              KekState state =
                  store.find(ref.id(), ref.version()).map(KeyEncryptionKey::state).orElse(null);
              throw new KekStateException(
                  ref.id(), state, "KEK " + ref + " exists already (" + state + ")");
            }
            cache.put(ref, plaintext);
            owned = null; // the cache owns it now
            primaryChanged.accept(ref.id());
            if (previous != null) {
              followPredecessor(previous, record);
            }
            log.info("Imported KEK {} under {}", ref, cmkUri);
            return record;
          } finally {
            if (owned != null) {
              Arrays.fill(owned, (byte) 0);
            }
          }
        });
  }

  private static void checkImportable(KekRef ref, KeyEncryptionKey primary) {
    if (primary == null) {
      if (ref.version() != 1) {
        throw new KekStateException(
            ref.id(),
            null,
            "No KEK with id " + ref.id() + " exists; import it as version 1, not " + ref.version());
      }
      return;
    }
    requireState(primary, "import a new version of", KekState.ENABLED);
    if (ref.version() != primary.version() + 1) {
      throw new KekStateException(
          ref.id(),
          primary.state(),
          "KEK "
              + ref.id()
              + " is at version "
              + primary.version()
              + " ("
              + primary.state()
              + "); the next imported version must be "
              + (primary.version() + 1)
              + ", not "
              + ref.version());
    }
  }

  KeyEncryptionKey rotate(String kekId) {
    KekRef.checkId(kekId);
    return audit.step(
        AuditEvent.Type.ROTATE,
        kekId,
        note -> {
          for (int attempt = 1; ; attempt++) {
            KeyEncryptionKey primary = last(existing(kekId));
            note.version(primary.version() + 1).cmk(primary.cmkUri());
            requireState(primary, "rotate", KekState.ENABLED);
            KmsWrapper wrapper = wrapper(primary.cmkUri(), kekId, "rotating");
            KekRef next = new KekRef(kekId, primary.version() + 1);
            Optional<KeyEncryptionKey> created = newVersion(next, primary.cmkUri(), wrapper);
            if (created.isPresent()) {
              note.detail("new primary " + next + ", previous v" + primary.version());
              followPredecessor(primary, created.get());
              log.info("Rotated KEK {} to version {}", kekId, next.version());
              return created.get();
            }
            // Another writer created that version first: look again and rotate past it.
            checkAttempts(attempt, kekId, "rotation");
          }
        });
  }

  /**
   * Creates version {@code ref} from 32 fresh random bytes wrapped by {@code wrapper}, and caches
   * the plaintext; empty if another writer created that version first.
   */
  private Optional<KeyEncryptionKey> newVersion(KekRef ref, URI cmkUri, KmsWrapper wrapper) {
    byte[] plaintext = Randoms.bytes(DefaultKeyManager.KEK_LENGTH);
    byte[] owned = plaintext; // overwritten below unless the cache takes it
    try {
      byte[] wrapped =
          audit.call(
              "wrap",
              ref,
              cmkUri,
              () -> wrapper.wrap(plaintext, DefaultKeyManager.kekContext(ref)));
      KeyEncryptionKey record = record(ref, cmkUri, wrapped);
      if (!store.create(record)) {
        return Optional.empty();
      }
      log.info("Created KEK {} under {}", ref, cmkUri);
      cache.put(ref, plaintext);
      owned = null; // the cache owns it now
      primaryChanged.accept(ref.id());
      return Optional.of(record);
    } finally {
      if (owned != null) {
        Arrays.fill(owned, (byte) 0);
      }
    }
  }

  private KeyEncryptionKey record(KekRef ref, URI cmkUri, byte[] wrapped) {
    return KeyEncryptionKey.builder()
        .id(ref.id())
        .version(ref.version())
        .cmkUri(cmkUri)
        .wrappedMaterial(wrapped)
        .createdAt(clock.instant())
        .build();
  }

  /**
   * After creating {@code created} on top of {@code previous} (read enabled), checks whether a
   * state change landed on {@code previous} meanwhile; if so, gives {@code created} the same state
   * so the change is not lost, and fails the rotation.
   *
   * <p>The state is carried forward to every version after {@code previous}, listing again until a
   * listing shows no newer version: another rotation may have stacked a version on {@code created}
   * and checked {@code created} before this method changed it, and only this walk (which lists
   * after its own change) can see that version.
   */
  private void followPredecessor(KeyEncryptionKey previous, KeyEncryptionKey created) {
    KeyEncryptionKey now = store.find(previous.id(), previous.version()).orElse(previous);
    KekState state = now.state();
    if (state == KekState.ENABLED || state == KekState.RETIRED) {
      return;
    }
    int done = previous.version(); // versions up to this one carry the state
    for (int pass = 1; ; pass++) {
      List<KeyEncryptionKey> versions = store.versions(created.id());
      int newest = versions.get(versions.size() - 1).version();
      if (newest == done) {
        break;
      }
      for (KeyEncryptionKey v : versions) {
        if (v.version() > done) {
          follow(v, state, now);
        }
      }
      done = newest;
      checkAttempts(pass, created.id(), "state change");
    }
    invalidateVersions(created.id());
    primaryChanged.accept(created.id());
    throw new KekStateException(
        created.id(),
        state,
        "KEK "
            + created.id()
            + " became "
            + state
            + " while it was being rotated; the new version "
            + created.version()
            + " was made "
            + state
            + " too");
  }

  /** Gives {@code version}, if still enabled, the state of {@code predecessor}. */
  private void follow(KeyEncryptionKey version, KekState state, KeyEncryptionKey predecessor) {
    KeyEncryptionKey current = version;
    for (int attempt = 1; current.state() == KekState.ENABLED; attempt++) {
      KeyEncryptionKey.Builder next = successor(current, clock).state(state).destroyAt(null);
      if (state == KekState.PENDING_DESTRUCTION) {
        next.destroyAt(predecessor.destroyAt().orElseThrow());
      } else if (state == KekState.DESTROYED) {
        next.wrappedMaterial(new byte[0]);
      }
      if (store.compareAndSet(current.revision(), next.build())) {
        return;
      }
      checkAttempts(attempt, version.id(), "state change");
      current = store.find(version.id(), version.version()).orElseThrow();
    }
  }

  // ---------------------------------------------------------------- change of CMK

  KekDescription changeCmk(String kekId, URI newCmk) {
    KekRef.checkId(kekId);
    requireNonNull(newCmk, "newCmkUri");
    return audit.step(
        AuditEvent.Type.CHANGE_CMK,
        kekId,
        note -> {
          note.cmk(newCmk);
          KmsWrapper wrapper = wrapper(newCmk, kekId, "moving to");
          KmsUnwrapper check = kms.unwrapper(newCmk);
          List<Integer> moved = new ArrayList<>();
          int done = 0;
          for (int pass = 1; ; pass++) {
            List<KeyEncryptionKey> versions = existing(kekId);
            KeyEncryptionKey primary = last(versions);
            if (done == 0) {
              requireState(primary, "change the CMK of", KekState.ENABLED, KekState.DISABLED);
            }
            if (primary.version() == done) {
              break;
            }
            for (KeyEncryptionKey v : versions) {
              if (v.version() > done && move(v, newCmk, wrapper, check)) {
                moved.add(v.version());
              }
            }
            done = primary.version();
            checkAttempts(pass, kekId, "change of CMK");
          }
          note.detail("versions moved " + moved);
          log.info("KEK {}: versions {} moved to CMK {}", kekId, moved, newCmk);
          return describe(kekId).orElseThrow();
        });
  }

  /** Re-wraps one version's KEK bytes under {@code newCmk}; {@code false} if nothing to do. */
  private boolean move(
      KeyEncryptionKey version, URI newCmk, KmsWrapper wrapper, KmsUnwrapper check) {
    KeyEncryptionKey current = version;
    for (int attempt = 1; ; attempt++) {
      KekState state = current.state();
      if (state == KekState.DESTROYED
          || state == KekState.PENDING_DESTRUCTION
          || current.cmkUri().equals(newCmk)) {
        return false;
      }
      KekRef ref = current.ref();
      URI oldCmk = current.cmkUri();
      KmsUnwrapper unwrapper = kms.unwrapper(oldCmk);
      byte[] oldMaterial = current.wrappedMaterial();
      byte[] plaintext =
          audit.call(
              "unwrap",
              ref,
              oldCmk,
              () -> unwrapper.unwrap(oldMaterial, DefaultKeyManager.kekContext(ref)));
      try {
        byte[] wrapped =
            audit.call(
                "wrap",
                ref,
                newCmk,
                () -> wrapper.wrap(plaintext, DefaultKeyManager.kekContext(ref)));
        byte[] back =
            audit.call(
                "unwrap",
                ref,
                newCmk,
                () -> check.unwrap(wrapped, DefaultKeyManager.kekContext(ref)));
        try {
          if (!MessageDigest.isEqual(back, plaintext)) {
            throw new InvalidCiphertextException(
                "CMK "
                    + newCmk
                    + " did not unwrap what it wrapped for KEK "
                    + ref
                    + "; the KEK stays under "
                    + oldCmk);
          }
        } finally {
          Arrays.fill(back, (byte) 0);
        }
        if (store.compareAndSet(
            current.revision(),
            successor(current, clock).cmkUri(newCmk).wrappedMaterial(wrapped).build())) {
          return true;
        }
      } finally {
        Arrays.fill(plaintext, (byte) 0);
      }
      checkAttempts(attempt, ref.id(), "change of CMK");
      Optional<KeyEncryptionKey> reread = store.find(ref.id(), ref.version());
      if (reread.isEmpty()) {
        return false;
      }
      current = reread.get();
    }
  }

  // ---------------------------------------------------------------- reads and helpers

  Optional<KekDescription> describe(String kekId) {
    List<KeyEncryptionKey> versions = store.versions(kekId);
    return versions.isEmpty() ? Optional.empty() : Optional.of(new KekDescription(versions));
  }

  /** The current primary version of {@code kekId}, read from the store. */
  KekRef primary(String kekId) {
    return last(existing(kekId)).ref();
  }

  private List<KeyEncryptionKey> existing(String kekId) {
    return existing(store, kekId);
  }

  /** Every version of {@code kekId}, oldest first; a state failure if there is none. */
  static List<KeyEncryptionKey> existing(KekStore store, String kekId) {
    List<KeyEncryptionKey> versions = store.versions(kekId);
    if (versions.isEmpty()) {
      throw new KekStateException(kekId, null, "No KEK with id " + kekId + " exists");
    }
    return versions;
  }

  static KeyEncryptionKey last(List<KeyEncryptionKey> versions) {
    return versions.get(versions.size() - 1);
  }

  /** Refuses with the KEK's state unless its primary is in one of {@code allowed}. */
  static void requireState(KeyEncryptionKey primary, String verb, KekState... allowed) {
    for (KekState s : allowed) {
      if (primary.state() == s) {
        return;
      }
    }
    throw new KekStateException(
        primary.id(),
        primary.state(),
        "Cannot "
            + verb
            + " KEK "
            + primary.id()
            + ": it is "
            + primary.state()
            + " (allowed from "
            + Arrays.toString(allowed)
            + ")");
  }

  /** The next revision of {@code v}, stamped now (never before its creation). */
  static KeyEncryptionKey.Builder successor(KeyEncryptionKey v, InstantSource clock) {
    Instant now = clock.instant();
    return v.toBuilder()
        .revision(v.revision() + 1)
        .updatedAt(now.isBefore(v.createdAt()) ? v.createdAt() : now);
  }

  /** Drops every version of {@code kekId} from the cache (each overwritten once unused). */
  static void invalidateVersions(KekStore store, KekCache cache, String kekId) {
    for (KeyEncryptionKey v : store.versions(kekId)) {
      cache.invalidate(v.ref());
    }
  }

  private void invalidateVersions(String kekId) {
    invalidateVersions(store, cache, kekId);
  }

  private KmsWrapper wrapper(URI cmkUri, String kekId, String doing) {
    return kms.wrapper(cmkUri)
        .orElseThrow(
            () ->
                new KeyManagerConfigException(
                    "The KMS provider for "
                        + cmkUri
                        + " can only unwrap; "
                        + doing
                        + " KEK "
                        + kekId
                        + " needs wrap rights. Import a pre-wrapped KEK instead."));
  }

  /** Gives up, retryably, after {@link #MAX_ATTEMPTS} compare-and-set conflicts. */
  static void checkAttempts(int attempt, String kekId, String what) {
    if (attempt >= MAX_ATTEMPTS) {
      throw new KekStoreException(
          "Gave up the "
              + what
              + " of KEK "
              + kekId
              + " after "
              + attempt
              + " compare-and-set conflicts with other writers; try again",
          true,
          null);
    }
  }
}

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
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The KEK lifecycle of {@link dev.keymanager.KeyManager}: create, import, rotate, the minimum
 * decryption version, change of CMK, disable and enable, scheduled destruction and destruction. The
 * transitions are tabled in {@code KeyManager}'s javadoc.
 *
 * <p>Every change is a compare-and-set on one record's revision. A change that concerns every
 * version walks them oldest first, primary last, and then looks again for versions created
 * meanwhile (a concurrent rotation) until a listing shows none, so a rotation racing a disable
 * cannot leave an enabled primary behind it. A rotation checks the previous primary after creating
 * its version and, if a state change landed there meanwhile, makes the new version follow it. What
 * remains is the instant between those two writes: a process killed there leaves a new enabled
 * version after a disable that had already returned; running the disable again fixes it.
 *
 * <p>The cache ({@link KekCache}) and the primary-version lookup of the key manager are told of
 * every change: versions that may no longer be used are dropped (and overwritten once their
 * in-flight users finish), and the primary is looked up again.
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
  private final Duration minimumWindow;
  private final Duration maximumWindow;
  private final Consumer<String> primaryChanged;

  KekLifecycle(
      KekStore store,
      KmsRegistry kms,
      KekCache cache,
      KmsAudit audit,
      InstantSource clock,
      Duration minimumWindow,
      Duration maximumWindow,
      Consumer<String> primaryChanged) {
    this.store = store;
    this.kms = kms;
    this.cache = cache;
    this.audit = audit;
    this.clock = clock;
    this.minimumWindow = minimumWindow;
    this.maximumWindow = maximumWindow;
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
          CachedKek cached = new CachedKek(ref, plaintext); // owns plaintext from here on
          try {
            KeyEncryptionKey record = record(ref, cmkUri, material);
            if (!store.create(record)) {
              KekState state =
                  store.find(ref.id(), ref.version()).map(KeyEncryptionKey::state).orElse(null);
              throw new KekStateException(
                  ref.id(), state, "KEK " + ref + " exists already (" + state + ")");
            }
            cache.put(cached);
            cached = null; // the cache owns it now
            primaryChanged.accept(ref.id());
            if (previous != null) {
              followPredecessor(previous, record);
            }
            log.info("Imported KEK {} under {}", ref, cmkUri);
            return record;
          } finally {
            if (cached != null) {
              cached.release();
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
    CachedKek cached = new CachedKek(ref, plaintext); // owns plaintext from here on
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
      cache.put(cached);
      cached = null; // the cache owns it now
      primaryChanged.accept(ref.id());
      return Optional.of(record);
    } finally {
      if (cached != null) {
        cached.release();
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
   */
  private void followPredecessor(KeyEncryptionKey previous, KeyEncryptionKey created) {
    KeyEncryptionKey now = store.find(previous.id(), previous.version()).orElse(previous);
    KekState state = now.state();
    if (state == KekState.ENABLED || state == KekState.RETIRED) {
      return;
    }
    KeyEncryptionKey current = created;
    for (int attempt = 1; current.state() == KekState.ENABLED; attempt++) {
      KeyEncryptionKey.Builder next = successor(current).state(state).destroyAt(null);
      if (state == KekState.PENDING_DESTRUCTION) {
        next.destroyAt(now.destroyAt().orElseThrow());
      } else if (state == KekState.DESTROYED) {
        next.wrappedMaterial(new byte[0]);
      }
      if (store.compareAndSet(current.revision(), next.build())) {
        break;
      }
      checkAttempts(attempt, created.id(), "state change");
      current = store.find(created.id(), created.version()).orElseThrow();
    }
    cache.invalidateAll(created.id());
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

  // ---------------------------------------------------------------- state changes

  /** One KEK-wide state change: which states it starts from and what it does to each version. */
  private record Transition(
      AuditEvent.Type type,
      String verb,
      Set<KekState> from,
      KekState to,
      UnaryOperator<KeyEncryptionKey> change) {}

  KekDescription disable(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.DISABLE,
            "disable",
            EnumSet.of(KekState.ENABLED, KekState.DISABLED),
            KekState.DISABLED,
            v -> v.state() == KekState.ENABLED ? to(v, KekState.DISABLED).build() : null),
        kekId);
  }

  KekDescription enable(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.ENABLE,
            "enable",
            EnumSet.of(KekState.DISABLED, KekState.ENABLED),
            KekState.ENABLED,
            v -> v.state() == KekState.DISABLED ? to(v, KekState.ENABLED).build() : null),
        kekId);
  }

  KekDescription scheduleDestruction(String kekId, Duration window) {
    requireNonNull(window, "window");
    if (window.compareTo(minimumWindow) < 0 || window.compareTo(maximumWindow) > 0) {
      throw new IllegalArgumentException(
          "pending window for destroying KEK "
              + kekId
              + " must be between "
              + minimumWindow
              + " and "
              + maximumWindow
              + ": "
              + window);
    }
    Instant destroyAt = clock.instant().plus(window);
    return transition(
        new Transition(
            AuditEvent.Type.SCHEDULE_DESTRUCTION,
            "schedule the destruction of",
            EnumSet.of(KekState.ENABLED, KekState.DISABLED),
            KekState.PENDING_DESTRUCTION,
            v ->
                v.state() == KekState.ENABLED || v.state() == KekState.DISABLED
                    ? to(v, KekState.PENDING_DESTRUCTION).destroyAt(destroyAt).build()
                    : null),
        kekId);
  }

  KekDescription cancelDestruction(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.CANCEL_DESTRUCTION,
            "cancel the destruction of",
            EnumSet.of(KekState.PENDING_DESTRUCTION),
            KekState.DISABLED,
            v ->
                v.state() == KekState.PENDING_DESTRUCTION
                    ? to(v, KekState.DISABLED).build()
                    : null),
        kekId);
  }

  KekDescription destroy(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.DESTROY,
            "destroy",
            EnumSet.of(KekState.PENDING_DESTRUCTION, KekState.DESTROYED),
            KekState.DESTROYED,
            v ->
                v.state() == KekState.DESTROYED
                    ? null
                    : to(v, KekState.DESTROYED).wrappedMaterial(new byte[0]).build()),
        kekId);
  }

  List<String> destroyDue() {
    Instant now = clock.instant();
    List<String> destroyed = new ArrayList<>();
    for (String id : store.kekIds()) {
      List<KeyEncryptionKey> versions = store.versions(id);
      if (versions.isEmpty()) {
        continue;
      }
      KeyEncryptionKey primary = last(versions);
      if (primary.state() == KekState.PENDING_DESTRUCTION
          && !primary.destroyAt().orElseThrow().isAfter(now)) {
        try {
          destroy(id);
          destroyed.add(id);
        } catch (KekStateException e) {
          log.info("KEK {} was not destroyed: {}", id, e.getMessage()); // cancelled meanwhile
        }
      }
    }
    return destroyed;
  }

  private KekDescription transition(Transition t, String kekId) {
    KekRef.checkId(kekId);
    return audit.step(
        t.type(),
        kekId,
        note -> {
          List<Integer> changed = new ArrayList<>();
          KekState before = null;
          int done = 0; // versions up to this one have been walked
          for (int pass = 1; ; pass++) {
            List<KeyEncryptionKey> versions = existing(kekId);
            KeyEncryptionKey primary = last(versions);
            if (before == null) {
              before = primary.state();
              note.cmk(primary.cmkUri());
              requireState(primary, t.verb(), t.from().toArray(KekState[]::new));
              if (t.type() == AuditEvent.Type.DESTROY) {
                requireDue(primary);
              }
            }
            if (primary.version() == done) {
              break; // no version appeared since the last walk
            }
            for (KeyEncryptionKey v : versions) {
              if (v.version() > done && apply(v, t.change())) {
                changed.add(v.version());
              }
            }
            done = primary.version();
            checkAttempts(pass, kekId, t.verb());
          }
          if (!t.to().isUsable()) {
            cache.invalidateAll(kekId);
          }
          primaryChanged.accept(kekId);
          note.detail(before + " -> " + t.to() + ", versions changed " + changed);
          log.info("KEK {}: {} -> {}, versions changed {}", kekId, before, t.to(), changed);
          return describe(kekId).orElseThrow();
        });
  }

  private void requireDue(KeyEncryptionKey primary) {
    if (primary.state() != KekState.PENDING_DESTRUCTION) {
      return; // destroyed already: nothing is due
    }
    Instant due = primary.destroyAt().orElseThrow();
    if (clock.instant().isBefore(due)) {
      throw new KekStateException(
          primary.id(),
          primary.state(),
          "KEK "
              + primary.id()
              + " is PENDING_DESTRUCTION until "
              + due
              + "; it cannot be destroyed before its pending window ends"
              + " (cancel with cancelKekDestruction)");
    }
  }

  /**
   * Applies {@code change} to one version with compare-and-set, re-reading on conflict.
   *
   * @return whether the record changed
   */
  private boolean apply(KeyEncryptionKey version, UnaryOperator<KeyEncryptionKey> change) {
    KeyEncryptionKey current = version;
    for (int attempt = 1; ; attempt++) {
      KeyEncryptionKey next = change.apply(current);
      if (next == null) {
        return false;
      }
      if (store.compareAndSet(current.revision(), next)) {
        return true;
      }
      checkAttempts(attempt, version.id(), "state change");
      Optional<KeyEncryptionKey> reread = store.find(version.id(), version.version());
      if (reread.isEmpty()) {
        return false;
      }
      current = reread.get();
    }
  }

  /** The next revision of {@code v}, stamped now. */
  private KeyEncryptionKey.Builder successor(KeyEncryptionKey v) {
    Instant now = clock.instant();
    return v.toBuilder()
        .revision(v.revision() + 1)
        .updatedAt(now.isBefore(v.createdAt()) ? v.createdAt() : now);
  }

  private KeyEncryptionKey.Builder to(KeyEncryptionKey v, KekState state) {
    return successor(v).state(state).destroyAt(null);
  }

  // ---------------------------------------------------------------- minimum decryption version

  KekDescription setMinimumDecryptionVersion(String kekId, int minimum) {
    KekRef.checkId(kekId);
    return audit.step(
        AuditEvent.Type.SET_MINIMUM_DECRYPTION_VERSION,
        kekId,
        note -> {
          note.version(minimum);
          List<KeyEncryptionKey> versions = existing(kekId);
          KeyEncryptionKey primary = last(versions);
          note.cmk(primary.cmkUri());
          requireState(
              primary,
              "set the minimum decryption version of",
              KekState.ENABLED,
              KekState.DISABLED);
          if (minimum < 1 || minimum > primary.version()) {
            throw new IllegalArgumentException(
                "minimum decryption version of KEK "
                    + kekId
                    + " must be 1 to the primary version "
                    + primary.version()
                    + ": "
                    + minimum);
          }
          KekState live = primary.state();
          List<Integer> retired = new ArrayList<>();
          List<Integer> restored = new ArrayList<>();
          // Retire upwards and restore downwards, so that a run cut short leaves a prefix retired
          // and the minimum read back from the states is always one that was asked for or held.
          for (KeyEncryptionKey v : versions) {
            if (v.version() < minimum
                && apply(
                    v,
                    x ->
                        x.state() == KekState.ENABLED || x.state() == KekState.DISABLED
                            ? to(x, KekState.RETIRED).build()
                            : null)) {
              retired.add(v.version());
              cache.invalidate(v.ref());
            }
          }
          for (int i = versions.size() - 1; i >= 0; i--) {
            KeyEncryptionKey v = versions.get(i);
            if (v.version() >= minimum
                && apply(v, x -> x.state() == KekState.RETIRED ? to(x, live).build() : null)) {
              restored.add(v.version());
            }
          }
          note.detail("retired " + retired + ", restored " + restored);
          log.info(
              "KEK {}: minimum decryption version {}; retired {}, restored {}",
              kekId,
              minimum,
              retired,
              restored);
          return describe(kekId).orElseThrow();
        });
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
            successor(current).cmkUri(newCmk).wrappedMaterial(wrapped).build())) {
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
    List<KeyEncryptionKey> versions = store.versions(kekId);
    if (versions.isEmpty()) {
      throw new KekStateException(kekId, null, "No KEK with id " + kekId + " exists");
    }
    return versions;
  }

  private static KeyEncryptionKey last(List<KeyEncryptionKey> versions) {
    return versions.get(versions.size() - 1);
  }

  private static void requireState(KeyEncryptionKey primary, String verb, KekState... allowed) {
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

  private static void checkAttempts(int attempt, String kekId, String what) {
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
